package deflate

import (
	"testing"

	"github.com/duplex-ws/duplex/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

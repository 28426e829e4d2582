// Package testenv decides what a test does when something it needs from outside Go is
// missing: on a developer's machine it skips with a message saying how to get it; in CI
// (CI=true) a missing dependency fails the test, since .ci/run installs everything.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run in CI, where every dependency must be present.
func InCI() bool { return os.Getenv("CI") == "true" }

// Need skips t, or fails it in CI, with the message why, unless ok.
func Need(t testing.TB, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if InCI() {
		t.Fatalf("required in CI: %s", why)
	}
	t.Skipf("skipped: %s", why)
}

// LookPath returns the path of the program name, skipping t (failing it in CI) when it is
// not installed; install says how to install it.
func LookPath(t testing.TB, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Need(t, err == nil, name+" not found; "+install)
	return p
}

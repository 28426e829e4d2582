//go:build race

package ws_test

// raceEnabled is set when the tests run with the race detector, under which sync.Pool
// drops what it is given, at random, and so allocations cannot be counted.
const raceEnabled = true

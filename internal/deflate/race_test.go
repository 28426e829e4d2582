//go:build race

package deflate

// raceEnabled is set when the tests run with the race detector, whose instrumentation
// allocates: allocations cannot be counted under it.
const raceEnabled = true

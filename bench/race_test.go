//go:build race

package bench_test

// raceEnabled is set when the tests run with the race detector: the servers are then
// built with it too, and a race in one makes it exit with a status the test reports.
const raceEnabled = true

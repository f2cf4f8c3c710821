//go:build race

package discovery

// raceDetector is set when the tests run under -race, whose instrumented runtime holds more of the heap
// than a real process does: a measured heap bound holds without it.
const raceDetector = true

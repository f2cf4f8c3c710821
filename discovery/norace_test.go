//go:build !race

package discovery

// raceDetector is set when the tests run under -race (race_test.go).
const raceDetector = false

//go:build !race

package frame

// raceEnabled is false without the race detector.
const raceEnabled = false

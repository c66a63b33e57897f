//go:build race

package frame

// raceEnabled is true under the race detector, whose sync.Pool drops items at
// random, so allocation counts are not meaningful.
const raceEnabled = true

//go:build !unix

package game

import "time"

// cpuTime is not measured here: false.
func cpuTime() (time.Duration, bool) { return 0, false }

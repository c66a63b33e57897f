package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is the release version, set at build time:
// go build -ldflags "-X main.version=v1.2.3" ./cmd/hive
var version = "dev"

// runVersion prints the version, the Go version and, when the binary was
// built from a VCS checkout, the revision (with "+dirty" for local changes).
func runVersion(_ context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) > 0 {
		return usagef("takes no arguments")
	}
	fmt.Fprintf(stdout, "hive %s\n", version)
	fmt.Fprintf(stdout, "go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if rev := vcsRevision(); rev != "" {
		fmt.Fprintf(stdout, "revision: %s\n", rev)
	}
	return nil
}

// vcsRevision reads vcs.revision (+ vcs.time, vcs.modified) from the build info.
func vcsRevision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	var rev, at string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return ""
	}
	if dirty {
		rev += "+dirty"
	}
	if at != "" {
		rev += " (" + at + ")"
	}
	return rev
}

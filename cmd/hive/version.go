package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is the release version, set at build time:
// go build -ldflags "-X main.version=v1.2.3" ./cmd/hive
// Empty: the module version `go install ...@v1.2.3` records, else a
// development build.
var version = ""

// runVersion prints what this binary is (a release, or a development build
// and the revision it was built from), the Go version and, when the build
// recorded one, the full VCS revision (with "+dirty" for local changes).
func runVersion(_ context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) > 0 {
		return usagef("takes no arguments")
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprintln(stdout, versionLine(version, bi))
	fmt.Fprintf(stdout, "go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if rev := vcsRevision(bi); rev != "" {
		fmt.Fprintf(stdout, "revision: %s\n", rev)
	}
	return nil
}

// pseudoVersion matches a Go pseudo-version (v0.0.0-20250102150405-abcdef123456),
// which `go build` records for an untagged checkout: not a release.
var pseudoVersion = regexp.MustCompile(`-(\d+\.)?\d{14}-[0-9a-f]{12}`)

// versionLine is the first line of `hive version`: "hive v1.2.3" for a
// release (stamped with -ldflags, or the tag `go install` recorded), else
// "hive (devel), a development build of revision 1a2b3c4d5e6f" (without the
// revision when the build recorded none).
func versionLine(stamped string, bi *debug.BuildInfo) string {
	if stamped != "" {
		return "hive " + stamped
	}
	if bi != nil {
		v := bi.Main.Version
		if v != "" && v != "(devel)" && !pseudoVersion.MatchString(v) && !strings.HasSuffix(v, "+dirty") {
			return "hive " + v
		}
	}
	rev, dirty := "", false
	if bi != nil {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if rev == "" {
		return "hive (devel), a development build (no VCS revision recorded)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "+dirty"
	}
	return "hive (devel), a development build of revision " + rev
}

// vcsRevision reads vcs.revision (+ vcs.time, vcs.modified) from the build info.
func vcsRevision(bi *debug.BuildInfo) string {
	if bi == nil {
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

package main

import (
	"runtime/debug"
	"testing"
)

// The first line of `hive version` says what the binary is: a release by
// its version, anything else a development build and its revision.
func TestVersionLine(t *testing.T) {
	vcs := func(mainVersion string, kv ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/qeetap/hive", Version: mainVersion}}
		for i := 0; i+1 < len(kv); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return bi
	}
	const rev = "b2dab68c0ffee0123456789abcdef0123456789a"
	for _, c := range []struct {
		name    string
		stamped string
		bi      *debug.BuildInfo
		want    string
	}{
		{"stamped", "v1.2.3", vcs("(devel)", "vcs.revision", rev), "hive v1.2.3"},
		{"go install @tag", "", vcs("v1.4.0"), "hive v1.4.0"},
		{"checkout", "", vcs("(devel)", "vcs.revision", rev), "hive (devel), a development build of revision b2dab68c0ffe"},
		{"dirty checkout", "", vcs("(devel)", "vcs.revision", rev, "vcs.modified", "true"), "hive (devel), a development build of revision b2dab68c0ffe+dirty"},
		{"pseudo-version", "", vcs("v0.0.0-20261202111700-b2dab68c0ffe+dirty", "vcs.revision", rev, "vcs.modified", "true"), "hive (devel), a development build of revision b2dab68c0ffe+dirty"},
		{"go run", "", vcs("(devel)"), "hive (devel), a development build (no VCS revision recorded)"},
		{"no build info", "", nil, "hive (devel), a development build (no VCS revision recorded)"},
	} {
		if got := versionLine(c.stamped, c.bi); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

package main

import (
	"strings"
	"testing"
)

// A mistyped command gets the closest one suggested, still exit status 2.
func TestUnknownCommandSuggestsTheClosest(t *testing.T) {
	for typo, want := range map[string]string{
		"dve":     "did you mean dev?",
		"gaet":    "did you mean gate?",
		"replya":  "did you mean replay?",
		"benhc":   "did you mean bench?",
		"versoin": "did you mean version?",
		"adm":     "did you mean admin?",
	} {
		var out, errOut strings.Builder
		code := run(t.Context(), []string{typo}, &out, &errOut)
		if code != exitUsage || !strings.Contains(errOut.String(), want) {
			t.Errorf("hive %s: exit %d, stderr %q; want 2 and %q", typo, code, errOut.String(), want)
		}
	}
	var out, errOut strings.Builder
	if code := run(t.Context(), []string{"help", "dve"}, &out, &errOut); code != exitUsage || !strings.Contains(errOut.String(), "did you mean dev?") {
		t.Errorf("hive help dve: exit %d, stderr %q", code, errOut.String())
	}
	// Nothing close: no suggestion at all.
	errOut.Reset()
	if code := run(t.Context(), []string{"xyzzy"}, &out, &errOut); code != exitUsage || strings.Contains(errOut.String(), "did you mean") {
		t.Errorf("hive xyzzy: exit %d, stderr %q; want 2 without a suggestion", code, errOut.String())
	}
}

// An unknown flag gets the closest flag of the command suggested.
func TestUnknownFlagSuggestsTheClosest(t *testing.T) {
	var out, errOut strings.Builder
	code := run(t.Context(), []string{"dev", "--uc-lisen", ":1"}, &out, &errOut)
	if code != exitUsage || !strings.Contains(errOut.String(), "unknown flag --uc-lisen: did you mean --uc-listen?") {
		t.Errorf("hive dev --uc-lisen: exit %d, stderr %q", code, errOut.String())
	}
}

func TestClosest(t *testing.T) {
	names := []string{"dev", "uc", "gate", "game", "tap"}
	for in, want := range map[string]string{
		"dve": "dev", "dev": "dev", "gmae": "game", "ta": "tap", "u": "", "x": "", "zzzz": "", "ga": "",
	} {
		if got := closest(in, names); got != want {
			t.Errorf("closest(%q) = %q, want %q", in, got, want)
		}
	}
}

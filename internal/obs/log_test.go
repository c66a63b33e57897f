package obs

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestNewLoggerJSONAndLevel(t *testing.T) {
	var buf bytes.Buffer
	l, err := NewLoggerTo(&buf, "json", "warn")
	if err != nil {
		t.Fatal(err)
	}
	l.Info("hidden")
	l.Warn("shown", "gate", "g1")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want only the warn line: %q", len(lines), buf.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("not JSON: %q: %v", lines[0], err)
	}
	if rec["msg"] != "shown" || rec["gate"] != "g1" || rec["level"] != "WARN" {
		t.Errorf("record = %v", rec)
	}
}

func TestNewLoggerText(t *testing.T) {
	var buf bytes.Buffer
	l, err := NewLoggerTo(&buf, "TEXT", "DEBUG")
	if err != nil {
		t.Fatal(err)
	}
	l.Debug("dbg", "k", 1)
	if got := buf.String(); !strings.Contains(got, "level=DEBUG") || !strings.Contains(got, "msg=dbg") || !strings.Contains(got, "k=1") {
		t.Errorf("text output = %q", got)
	}
}

func TestNewLoggerRejectsBadValues(t *testing.T) {
	if _, err := NewLogger("xml", "info"); err == nil || !strings.Contains(err.Error(), "text or json") {
		t.Errorf("bad format: err = %v", err)
	}
	if _, err := NewLogger("text", "loud"); err == nil || !strings.Contains(err.Error(), "debug, info, warn or error") {
		t.Errorf("bad level: err = %v", err)
	}
	for _, lv := range []string{"", "info", "Warning", "error", "debug"} {
		if _, err := ParseLevel(lv); err != nil {
			t.Errorf("ParseLevel(%q): %v", lv, err)
		}
	}
}

package obs

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// LogFormats are the values --log-format accepts.
var LogFormats = []string{"text", "json"}

// NewLogger returns a logger writing to stderr in format ("text" or "json")
// at level ("debug", "info", "warn", "error", case-insensitive; empty = info).
// Anything else is an error that names the accepted values.
func NewLogger(format, level string) (*slog.Logger, error) {
	return NewLoggerTo(os.Stderr, format, level)
}

// NewLoggerTo is NewLogger writing to w (tests, or a log file).
func NewLoggerTo(w io.Writer, format, level string) (*slog.Logger, error) {
	lv, err := ParseLevel(level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("log format %q: want text or json", format)
	}
}

// ParseLevel parses a --log-level value: debug, info, warn (or warning),
// error, case-insensitive; empty means info.
func ParseLevel(level string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "debug":
		return slog.LevelDebug, nil
	case "info", "":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	default:
		return 0, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
}

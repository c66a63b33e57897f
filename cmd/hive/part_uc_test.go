package main

import (
	"flag"
	"io"
	"strings"
	"testing"
)

// TestUCNeedsSMSWebhook: `hive uc` refuses to start without --sms-webhook
// unless --sms-log-codes allows logging codes; `hive dev` logs them.
func TestUCNeedsSMSWebhook(t *testing.T) {
	build := func(dev bool, args ...string) error {
		fs := flag.NewFlagSet("uc", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		mk := ucPart().bind(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		_, err := mk(deps{DataDir: t.TempDir(), Dev: dev})
		return err
	}
	if err := build(false); err == nil || !strings.Contains(err.Error(), "--sms-webhook") {
		t.Fatalf("hive uc without --sms-webhook: %v, want a refusal naming --sms-webhook", err)
	}
	// Past the SMS check, construction fails on the missing NATS connection.
	for _, c := range []struct {
		dev  bool
		args []string
	}{{false, []string{"--sms-log-codes"}}, {false, []string{"--sms-webhook", "http://127.0.0.1:1/sms"}}, {true, nil}} {
		if err := build(c.dev, c.args...); err == nil || strings.Contains(err.Error(), "sms") {
			t.Fatalf("dev=%v %v: %v, want only the missing connection refused", c.dev, c.args, err)
		}
	}
}

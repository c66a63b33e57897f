package main

import (
	"context"
	"flag"
	"io"
	"os"
	"strings"
	"time"

	"github.com/qeetap/hive/tools/repl"
)

// clientConfig is what `hive client`'s flags parse into.
type clientConfig struct {
	opt repl.Options
}

// clientFlags is the FlagSet of `hive client`.
func clientFlags() (*flag.FlagSet, *clientConfig) {
	c := &clientConfig{}
	fs := newFlagSet("client", "A terminal game client: reads commands (one per line, `help` lists them) and prints\n"+
		"every answer and push, as JSON lines (or as text with --pretty, the default on a terminal).\n"+
		"Arguments after the flags are the first command:\n"+
		"  hive client login lisp secret-lisp-1      (then a prompt)\n"+
		"  hive client < script.txt                  (scripted; see --fail-fast)\n"+
		"Exit status 1 when any command failed (a refusal, a non-OK answer, an unknown command,\n"+
		"uc or the gate unreachable), 2 on bad flags.")
	fs.StringVar(&c.opt.UC, "uc", "http://127.0.0.1:8082", "base URL of the account server (uc)")
	fs.StringVar(&c.opt.Gate, "gate", "", "gate host:port to use instead of the address uc hands out")
	fs.DurationVar(&c.opt.Timeout, "timeout", 10*time.Second, "time limit for each command")
	fs.DurationVar(&c.opt.Heartbeat, "heartbeat", 15*time.Second, "send an Echo after this long idle so the gate keeps the session; negative = never")
	fs.BoolVar(&c.opt.FailFast, "fail-fast", false, "stop at the first failing command (for scripts)")
	fs.BoolVar(&c.opt.Pretty, "pretty", false, "print answers as indented text for reading instead of JSON lines (default: on when stdout is a terminal)")
	return fs, c
}

// runClient is `hive client`.
func runClient(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	out, _ := stdout.(*os.File)
	return clientMain(ctx, args, os.Stdin, stdout, isTerminal(os.Stdin), out != nil && isTerminal(out))
}

// clientMain is runClient with its input and terminals given: a prompt when
// the input is a terminal, --pretty by default when the output is one.
func clientMain(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer, inTTY, outTTY bool) error {
	fs, c := clientFlags()
	if err := parseFlagsArgs(fs, args, os.LookupEnv, stdout); err != nil {
		return err
	}
	pretty := false
	fs.Visit(func(f *flag.Flag) { pretty = pretty || f.Name == "pretty" })
	if !pretty {
		c.opt.Pretty = outTTY
	}
	if inTTY {
		c.opt.Prompt = "hive> "
	}
	c.opt.First = strings.Join(fs.Args(), " ")
	return repl.Run(ctx, stdin, stdout, c.opt)
}

// isTerminal reports whether f looks like a terminal: a character device
// other than /dev/null (a portable approximation; a prompt on some other
// device is harmless).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull)
	return err != nil || !os.SameFile(st, null)
}

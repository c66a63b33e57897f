// Command hive is the one binary of Hive: every process (uc, gate, game), the
// all-in-one `hive dev`, and the operator tools (tap, replay, client, bench,
// admin). `hive help` lists the subcommands, `hive <cmd> --help` their flags;
// every flag also reads an environment variable HIVE_<FLAG> (see flags.go).
//
// Exit status: 0 success (including a drained shutdown on SIGINT/SIGTERM),
// 1 a runtime failure, 2 a usage or configuration error.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// usageError is a bad command line or configuration: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef returns a usageError.
func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// command is one `hive <name>` subcommand.
type command struct {
	name    string
	summary string
	// issue builds it; named in the message of a command that is not built yet.
	issue int
	// run executes the command with the arguments after its name; nil = not built yet.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists every subcommand of DESIGN §1 in the order help shows them.
// A command whose part is not written yet keeps run == nil.
func commands() []command {
	return []command{
		{name: "dev", summary: "everything in one process: embedded NATS+JetStream, uc, a gate, a game worker", issue: 6, run: runDev},
		{name: "uc", summary: "the account server (REST, JWTs, gate picking)", issue: 3, run: clusterRunner("uc")},
		{name: "gate", summary: "a TCP gateway", issue: 4, run: clusterRunner("gate")},
		{name: "game", summary: "a game worker (queue group game on msg.*.Req)", issue: 5, run: clusterRunner("game")},
		{name: "tap", summary: "follow the event stream and print events as JSON lines", issue: 6, run: runTap},
		{name: "replay", summary: "rebuild one player's state from its events", issue: 6, run: runReplay},
		{name: "client", summary: "a terminal game client (JSON lines out; `help` at its prompt)", issue: 6, run: runClient},
		{name: "bench", summary: "load generator with latency percentiles", issue: 7, run: runBench},
		{name: "admin", summary: "operator commands: mail, gates, kick, player", issue: 6, run: runAdmin},
		{name: "secrets", summary: "write a deployment's NATS identities: one credentials file per role, the server config", run: runSecrets},
		{name: "version", summary: "print the version, Go version and VCS revision", run: runVersion},
		{name: "help", summary: "list the commands, or `hive help <cmd>` for a command's flags", run: runHelp},
	}
}

// findCommand returns the named command.
func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and maps its error to an exit status.
// ctx ends on SIGINT/SIGTERM; long-running commands drain when it does.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printTopUsage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		printTopUsage(stdout)
		return exitOK
	case "-v", "-version", "--version":
		name = "version"
	}
	cmd, ok := findCommand(name)
	if !ok {
		fmt.Fprintf(stderr, "hive: unknown command %q (run `hive help` for the list)\n", name)
		return exitUsage
	}
	if cmd.run == nil {
		fmt.Fprintf(stderr, "hive %s: not built yet (see issue %d)\n", cmd.name, cmd.issue)
		return exitUsage
	}
	err := cmd.run(ctx, args[1:], stdout, stderr)
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelpShown):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "hive %s: %v\n", cmd.name, err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "hive %s: %v\n", cmd.name, err)
		return exitFailure
	}
}

// printTopUsage lists the commands and the shared flags.
func printTopUsage(w io.Writer) {
	fmt.Fprintf(w, "hive: the Hive game-server backend, one binary for every process.\n\n")
	fmt.Fprintf(w, "Usage: hive <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		note := ""
		if c.run == nil {
			note = fmt.Sprintf(" (not built yet, issue %d)", c.issue)
		}
		fmt.Fprintf(w, "  %-8s %s%s\n", c.name, c.summary, note)
	}
	fmt.Fprintf(w, "\nShared flags (each also read from the environment variable shown):\n")
	fs, _ := devFlags()
	printFlags(w, fs, func(name string) bool { return sharedFlag(name) })
	fmt.Fprintf(w, "\n`hive <command> --help` lists every flag of a command. A flag given on the\n")
	fmt.Fprintf(w, "command line wins over its environment variable.\n")
}

// runHelp implements `hive help [cmd]`.
func runHelp(_ context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) == 0 {
		printTopUsage(stdout)
		return nil
	}
	cmd, ok := findCommand(args[0])
	if !ok {
		return usagef("unknown command %q", args[0])
	}
	if mk, ok := flagSets()[cmd.name]; ok {
		fs := mk()
		fs.SetOutput(stdout)
		fs.Usage()
		return nil
	}
	fmt.Fprintf(stdout, "hive %s: %s\n", cmd.name, cmd.summary)
	if cmd.run == nil {
		fmt.Fprintf(stdout, "not built yet (see issue %d)\n", cmd.issue)
	}
	return nil
}

// Package repl is `hive client`: a line-oriented client of uc and the
// gate, whose commands live in one table that drives dispatch and help.
package repl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/proto/msg"
)

// Options configures Run.
type Options struct {
	// UC is the base URL of the account server, e.g. "http://127.0.0.1:8082". Required.
	UC string
	// Gate, if set, replaces the gate address uc answers (for a gate
	// reachable under another address than the one it advertises).
	Gate string
	// HTTP is the client for uc; nil means one with a 10 s timeout.
	HTTP *http.Client
	// Timeout bounds each command; 0 means 10 s.
	Timeout time.Duration
	// Heartbeat is the idle time after which the session sends an Echo so
	// the gate keeps it while the user thinks; 0 means 15 s, negative none.
	Heartbeat time.Duration
	// Prompt, if not empty, is written to out when a command is awaited,
	// after the answer to the last one (for a terminal; leave it empty when
	// the input is a script). A push that comes while it waits is printed on
	// a line of its own, and the prompt again.
	Prompt string
	// First, if set, is run before the commands read from in (`hive client
	// login USER PASS`), with no prompt before it.
	First string
	// Pretty prints answers, pushes and failures as indented text for a
	// person instead of JSON lines.
	Pretty bool
	// FailFast stops at the first command that fails and returns its error
	// (for scripts). Otherwise failures are printed and Run goes on.
	FailFast bool
}

// ErrCommandsFailed is wrapped by Run's error when some command
// failed (and FailFast was off): `hive client` exits 1.
var ErrCommandsFailed = errors.New("commands failed")

// ucHint is added to the error of a uc request that could not connect.
const ucHint = "is `hive dev` running? start it with `go run ./cmd/hive dev`"

// ucErr adds ucHint to err when uc could not be reached at all.
func ucErr(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return fmt.Errorf("%w (%s)", err, ucHint)
	}
	return err
}

// Run is `hive client`: it reads commands from in, one per line,
// sends them, and writes every answer and push to out as one JSON line:
//
//	{"res":"msg.GetItems.Res","msg":{...}}   the answer to a command
//	{"push":"msg.GetItems.Res","msg":{...}}  a message the server pushed
//	{"error":"...","code":3002}              a failed command ("code" only for a result code)
//
// Messages are protojson with proto field names (64-bit integers as JSON
// strings, protojson's default); with Pretty, the same as indented text
// instead. Blank lines and lines starting with # are skipped. It returns at
// the end of input, on quit or when ctx ends: nil when every command
// succeeded, else an error wrapping ErrCommandsFailed; with FailFast, the
// first failure at once.
func Run(ctx context.Context, in io.Reader, out io.Writer, opt Options) error {
	if opt.UC == "" {
		return errors.New("client: no uc URL")
	}
	if opt.HTTP == nil {
		opt.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.Heartbeat == 0 {
		opt.Heartbeat = 15 * time.Second
	}
	r := &repl{opt: opt, out: out, uc: &client.UC{BaseURL: opt.UC, HTTP: opt.HTTP}, pushed: make(chan struct{}, 1)}
	defer r.disconnect()
	defer r.endPrompt()

	lines := make(chan string)
	readErr := make(chan error, 1)
	go func() { // a blocked read cannot watch ctx; this goroutine can be left behind
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 4096), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
		readErr <- sc.Err()
	}()
	pending := opt.First
	for {
		var line string
		if pending != "" {
			line, pending = pending, ""
		} else {
			// The prompt comes only now, after the last command's answer.
			r.showPrompt()
			select {
			case <-ctx.Done():
				return r.verdict()
			case err := <-readErr:
				if err != nil {
					return fmt.Errorf("client: reading commands: %w", err)
				}
				return r.verdict()
			case line = <-lines:
			}
			r.lineRead()
		}
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if c := findCommand(f[0]); c != nil && c.quit {
			return r.verdict()
		}
		r.commands++
		cctx, cancel := context.WithTimeout(ctx, opt.Timeout)
		err := r.run(cctx, f, line)
		cancel()
		if err != nil {
			r.failed++
			r.printErr(err)
			if opt.FailFast {
				return err
			}
		}
	}
}

// verdict is Run's result once it stops: nil, or how many commands failed.
func (r *repl) verdict() error {
	if r.failed == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d %w", r.failed, r.commands, ErrCommandsFailed)
}

// repl is the state of one Run.
type repl struct {
	opt Options
	uc  *client.UC

	wmu sync.Mutex // one line at a time: pushes come from the session's goroutine
	out io.Writer
	// prompting: the prompt is the last thing written, waiting for a line
	// (a push then goes on a line of its own, and the prompt again).
	prompting bool

	s     *client.Session
	auth  *msg.Auth_Res // of the current login
	pmu   sync.Mutex
	count int // pushes received
	seen  int // pushes consumed by wait
	// pushed gets a token (if there is room) on each push, to wake wait.
	pushed chan struct{}

	commands, failed int // commands run, and failed (read by the loop only)
}

// usageError is a command typed wrong.
type usageError string

func (e usageError) Error() string { return "usage: " + string(e) }

// run executes one command. f is the line split into fields.
func (r *repl) run(ctx context.Context, f []string, line string) error {
	name, args := f[0], f[1:]
	c := findCommand(name)
	if c == nil {
		return fmt.Errorf("unknown command %q (try help)", name)
	}
	if c.local != nil {
		return c.local(r, ctx, args)
	}
	// rest is the text after the command, for arguments that may hold spaces.
	rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), name))
	req, err := c.req(args, rest)
	if err != nil {
		return err
	}
	if r.s == nil {
		return errors.New("not logged in: use login USER PASS or guest DEVICE")
	}
	if name == "logout" {
		req = &msg.Logout_Req{Account: proto.Int64(r.s.User().GetAccount())}
	}
	res, err := r.s.Do(ctx, req)
	if err != nil {
		return err
	}
	r.printRes(res)
	if name == "logout" {
		r.disconnect()
	}
	return nil
}

// register is the register command.
func (r *repl) register(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return findCommand("register").usage()
	}
	res, err := r.uc.Register(ctx, args[0], args[1])
	if err != nil {
		return ucErr(err)
	}
	r.printRes(res)
	return nil
}

// login is the login command.
func (r *repl) login(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return findCommand("login").usage()
	}
	res, err := r.uc.Auth(ctx, args[0], args[1])
	if err != nil {
		return ucErr(err)
	}
	return r.connect(ctx, res)
}

// guest is the guest command.
func (r *repl) guest(ctx context.Context, args []string) error {
	if len(args) != 1 {
		return findCommand("guest").usage()
	}
	res, err := r.uc.Guest(ctx, args[0])
	if err != nil {
		return ucErr(err)
	}
	return r.connect(ctx, res)
}

// bind is the bind command.
func (r *repl) bind(ctx context.Context, args []string) error {
	if len(args) != 2 {
		return findCommand("bind").usage()
	}
	if r.auth == nil {
		return errors.New("not logged in: use guest DEVICE first")
	}
	if err := r.uc.BindAccount(ctx, r.auth.GetToken(), r.auth.GetAccountId(), args[0], args[1]); err != nil {
		return ucErr(err)
	}
	r.printRes(&msg.BindAccount_Res{Code: proto.Int32(0)})
	return nil
}

// waitCmd is the wait command.
func (r *repl) waitCmd(ctx context.Context, args []string) error {
	d := 5 * time.Second
	if len(args) > 1 {
		return findCommand("wait").usage()
	}
	if len(args) == 1 {
		var err error
		if d, err = time.ParseDuration(args[0]); err != nil {
			return usageError("wait [DURATION], e.g. wait 2s")
		}
	}
	return r.wait(ctx, d)
}

// connect replaces the session with one to the gate of a uc answer, and logs in.
func (r *repl) connect(ctx context.Context, auth *msg.Auth_Res) error {
	r.disconnect()
	addr := auth.GetAddr()
	if r.opt.Gate != "" {
		addr = r.opt.Gate
	}
	if addr == "" {
		return errors.New("uc answered no gate address (no live gate?)")
	}
	opts := []client.Option{client.WithPushHandler(r.printPush)}
	if r.opt.Heartbeat > 0 {
		opts = append(opts, client.WithHeartbeat(r.opt.Heartbeat))
	}
	s, err := client.Dial(ctx, addr, opts...)
	if err != nil {
		return err
	}
	res, err := client.Call[*msg.Login_Res](ctx, s, &msg.Login_Req{Token: proto.String(auth.GetToken())})
	if err != nil {
		s.Close()
		return err
	}
	r.s, r.auth = s, auth
	r.printRes(res)
	return nil
}

// disconnect closes the session, if any.
func (r *repl) disconnect() {
	if r.s != nil {
		r.s.Close()
		r.s, r.auth = nil, nil
	}
}

// wait returns once a push arrived that no earlier wait returned for.
func (r *repl) wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		r.pmu.Lock()
		if r.count > r.seen {
			r.seen = r.count
			r.pmu.Unlock()
			return nil
		}
		r.pmu.Unlock()
		select {
		case <-r.pushed:
		case <-t.C:
			return fmt.Errorf("no push within %v", d)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

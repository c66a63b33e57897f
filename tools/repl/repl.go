// Package repl is `hive client`: a line-oriented client of uc and the
// gate, whose commands live in one table that drives dispatch and help.
package repl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/tools/internal/jsonl"
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

// command is one command of Run. The table commands drives
// both dispatch and help, so the two cannot disagree.
type command struct {
	name string
	args string // argument synopsis, as in help and usage errors
	help string
	// Exactly one of local, req and quit: local runs a command the REPL
	// handles itself (uc, wait, help); req builds the game request sent on
	// the session (rest is the text after the command, for arguments that
	// may hold spaces); quit ends the REPL.
	local func(r *repl, ctx context.Context, args []string) error
	req   func(args []string, rest string) (proto.Message, error)
	quit  bool
}

// usage is the command's usage error.
func (c *command) usage() error {
	return usageError(strings.TrimSpace(c.name + " " + c.args))
}

// commands is every command, in help order. It is filled in init:
// help reads it, and a variable may not refer to itself.
var commands []command

func init() {
	commands = []command{
		{name: "register", args: "USER PASS", help: "create an account (does not log in)", local: (*repl).register},
		{name: "login", args: "USER PASS", help: "log in at uc, connect to the gate it names, log in there", local: (*repl).login},
		{name: "guest", args: "DEVICE", help: "log in as the guest of a device id", local: (*repl).guest},
		{name: "bind", args: "USER PASS", help: "give the logged-in guest account a username and password", local: (*repl).bind},
		{name: "items", args: "[IDX]", help: "your items (all, or of kind IDX: 100 gold, 101 diamond, 102 card)", req: func(a []string, _ string) (proto.Message, error) {
			v, err := intArgs("items", "[IDX]", a, 0, 1)
			return &msg.GetItems_Req{Idx: proto.Int32(int32(first(v)))}, err
		}},
		{name: "gift", args: "ID IDX NUM", help: "give NUM items of kind IDX to player ID", req: func(a []string, _ string) (proto.Message, error) {
			v, err := intArgs("gift", "ID IDX NUM", a, 3, 3)
			if err != nil {
				return nil, err
			}
			return &msg.GiftItems_Req{DstId: proto.Int64(v[0]), ItemIdx: proto.Int32(int32(v[1])), ItemNum: proto.Int32(int32(v[2]))}, nil
		}},
		{name: "mails", args: "[ID]", help: "your mails (all, or mail ID)", req: func(a []string, _ string) (proto.Message, error) {
			v, err := intArgs("mails", "[ID]", a, 0, 1)
			return &msg.GetMails_Req{Id: proto.Int64(first(v))}, err
		}},
		{name: "claim", args: "ID", help: "take a mail's attachments", req: mailReq("claim", func(id int64) proto.Message { return &msg.ClaimMail_Req{Id: proto.Int64(id)} })},
		{name: "read", args: "ID", help: "mark a mail read", req: mailReq("read", func(id int64) proto.Message { return &msg.ReadMail_Req{Id: proto.Int64(id)} })},
		{name: "delete", args: "ID", help: "delete a mail", req: mailReq("delete", func(id int64) proto.Message { return &msg.DeleteMail_Req{Id: proto.Int64(id)} })},
		{name: "rank", args: "IDX", help: "leaderboard by amount of item kind IDX", req: func(a []string, _ string) (proto.Message, error) {
			v, err := intArgs("rank", "IDX", a, 1, 1)
			if err != nil {
				return nil, err
			}
			return &msg.GetRank_Req{Type: proto.Int32(int32(v[0]))}, nil
		}},
		{name: "rename", args: "NAME", help: "change your name", req: func(_ []string, rest string) (proto.Message, error) {
			if rest == "" {
				return nil, usageError("rename NAME")
			}
			return setEvent(def.EventType_EVENT_RENAME, &def.Event{ArgStr: proto.String(rest)}), nil
		}},
		{name: "icon", args: "N", help: "change your icon", req: func(a []string, _ string) (proto.Message, error) {
			v, err := intArgs("icon", "N", a, 1, 1)
			if err != nil {
				return nil, err
			}
			return setEvent(def.EventType_EVENT_MOD_ICON, &def.Event{ArgA: proto.Int32(int32(v[0]))}), nil
		}},
		{name: "motto", args: "TEXT", help: "change your motto", req: func(_ []string, rest string) (proto.Message, error) {
			return setEvent(def.EventType_EVENT_MOD_MOTTO, &def.Event{ArgStr: proto.String(rest)}), nil
		}},
		{name: "use", args: "IDX NUM", help: "use NUM items of kind IDX", req: func(a []string, _ string) (proto.Message, error) {
			v, err := intArgs("use", "IDX NUM", a, 2, 2)
			if err != nil {
				return nil, err
			}
			return setEvent(def.EventType_EVENT_ITEM_USE, &def.Event{ArgA: proto.Int32(int32(v[0])), ArgB: proto.Int32(int32(v[1]))}), nil
		}},
		{name: "user", args: "[ID]", help: "a player (yourself by default)", req: func(a []string, _ string) (proto.Message, error) {
			v, err := intArgs("user", "[ID]", a, 0, 1)
			return &msg.GetUser_Req{Id: proto.Int64(first(v))}, err
		}},
		{name: "echo", args: "[VAL]", help: "round trip", req: func(a []string, _ string) (proto.Message, error) {
			v, err := intArgs("echo", "[VAL]", a, 0, 1)
			return &msg.Echo_Req{Val: proto.Int64(first(v)), Ct: proto.Int64(time.Now().UnixMilli())}, err
		}},
		{name: "wait", args: "[DURATION]", help: "wait for a push not yet waited for (default 5s)", local: (*repl).waitCmd},
		{name: "logout", help: "log out and disconnect", req: func(a []string, _ string) (proto.Message, error) {
			if len(a) != 0 {
				return nil, usageError("logout")
			}
			return &msg.Logout_Req{}, nil // the account is filled in by run
		}},
		{name: "help", help: "this list", local: func(r *repl, _ context.Context, _ []string) error {
			r.write([]byte(helpText()))
			return nil
		}},
		{name: "quit", help: "end the session (also exit)", quit: true},
		{name: "exit", quit: true}, // no help line: quit's alias
	}
}

// findCommand returns the command named name, nil if there is none.
func findCommand(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// help is the text of `help`, from commands.
func helpText() string {
	var b strings.Builder
	b.WriteString("commands:\n")
	for _, c := range commands {
		if c.help == "" {
			continue
		}
		fmt.Fprintf(&b, "  %-20s %s\n", strings.TrimSpace(c.name+" "+c.args), c.help)
	}
	b.WriteString("output, as JSON lines (indented text with --pretty): {\"res\":API,\"msg\":{...}} answers,\n" +
		"{\"push\":API,\"msg\":{...}} pushes, {\"error\":\"...\",\"code\":N} failures (code when the server gave one)\n")
	return b.String()
}

// intArgs parses the numeric arguments of command name: between min and
// max of them.
func intArgs(name, synopsis string, args []string, min, max int) ([]int64, error) {
	usage := name + " " + synopsis
	if len(args) < min || len(args) > max {
		return nil, usageError(usage)
	}
	v := make([]int64, len(args))
	for i, a := range args {
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			return nil, usageError(usage + " (numbers)")
		}
		v[i] = n
	}
	return v, nil
}

// first is the optional first argument, 0 when absent.
func first(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

// mailReq builds the request of a command taking one mail id.
func mailReq(name string, mk func(id int64) proto.Message) func([]string, string) (proto.Message, error) {
	return func(a []string, _ string) (proto.Message, error) {
		v, err := intArgs(name, "ID", a, 1, 1)
		if err != nil {
			return nil, err
		}
		return mk(v[0]), nil
	}
}

// setEvent is the SetEvent.Req of a profile or item-use command.
func setEvent(oper def.EventType, e *def.Event) *msg.SetEvent_Req {
	e.Oper = proto.Int32(int32(oper))
	return &msg.SetEvent_Req{Event: e}
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

// showPrompt writes the prompt, if any, and notes that it waits for a line.
func (r *repl) showPrompt() {
	if r.opt.Prompt == "" {
		return
	}
	r.wmu.Lock()
	defer r.wmu.Unlock()
	_, _ = io.WriteString(r.out, r.opt.Prompt)
	r.prompting = true
}

// lineRead notes that the prompt got its line (the terminal's echo ended it).
func (r *repl) lineRead() {
	r.wmu.Lock()
	r.prompting = false
	r.wmu.Unlock()
}

// endPrompt ends a prompt line left waiting (end of input, interrupt), so
// that what comes next starts on a line of its own.
func (r *repl) endPrompt() {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if r.prompting {
		_, _ = io.WriteString(r.out, "\n")
		r.prompting = false
	}
}

// printPush is the session's push handler.
func (r *repl) printPush(api string, m proto.Message) {
	r.printMsg("push", api, m)
	r.pmu.Lock()
	r.count++
	r.pmu.Unlock()
	select {
	case r.pushed <- struct{}{}:
	default:
	}
}

// printRes prints an answer.
func (r *repl) printRes(m proto.Message) {
	r.printMsg("res", frame.API(m), m)
}

// outLine is one output line of Run: an answer (Res), a push
// (Push) or a failure (Error, with Code when the server gave one).
type outLine struct {
	Res   string          `json:"res,omitempty"`
	Push  string          `json:"push,omitempty"`
	Msg   json.RawMessage `json:"msg,omitempty"`
	Error string          `json:"error,omitempty"`
	Code  *int32          `json:"code,omitempty"`
}

// prettyOpts is the text form of messages with Pretty.
var prettyOpts = prototext.MarshalOptions{Multiline: true, Indent: "  ", AllowPartial: true}

// printMsg prints {"res"|"push":api,"msg":{...}}.
func (r *repl) printMsg(kind, api string, m proto.Message) {
	if r.opt.Pretty {
		b, err := prettyOpts.Marshal(m)
		if err != nil {
			r.printErr(err)
			return
		}
		head := api
		if kind == "push" {
			head = "push " + api
		}
		body := strings.TrimRight(string(b), "\n")
		if body == "" {
			r.write([]byte(head + "\n"))
			return
		}
		r.write([]byte(head + ":\n  " + strings.ReplaceAll(body, "\n", "\n  ") + "\n"))
		return
	}
	b, err := jsonl.Proto.Marshal(m)
	if err != nil {
		r.printErr(err)
		return
	}
	l := outLine{Msg: b}
	if kind == "push" {
		l.Push = api
	} else {
		l.Res = api
	}
	r.printLine(l)
}

// printErr prints {"error":"...","code":N}; code only when err carries a
// result code.
func (r *repl) printErr(err error) {
	if r.opt.Pretty {
		r.write([]byte("error: " + err.Error() + "\n"))
		return
	}
	l := outLine{Error: err.Error()}
	if c, ok := client.CodeOf(err); ok {
		l.Code = proto.Int32(int32(c))
	}
	r.printLine(l)
}

// printLine writes l as one JSON line.
func (r *repl) printLine(l outLine) {
	b, err := json.Marshal(l)
	if err != nil {
		b, _ = json.Marshal(outLine{Error: err.Error()})
	}
	r.write(append(b, '\n'))
}

// write writes complete lines, one call at a time. Lines that come while
// the prompt waits (pushes) go below it, and the prompt is written again.
func (r *repl) write(b []byte) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	if r.prompting {
		b = append(append([]byte("\n"), b...), r.opt.Prompt...)
	}
	_, _ = r.out.Write(b)
}

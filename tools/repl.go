package tools

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

// ClientOptions configures ClientREPL.
type ClientOptions struct {
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
	// Prompt, if not empty, is written to out before each command (for a
	// terminal; leave it empty when the input is a script).
	Prompt string
	// FailFast stops at the first command that fails and returns its error
	// (for scripts). Otherwise failures are printed and ClientREPL goes on.
	FailFast bool
}

// replHelp lists the commands.
const replHelp = `commands:
  register USER PASS   create an account (does not log in)
  login USER PASS      log in at uc, connect to the gate it names, log in there
  guest DEVICE         log in as the guest of a device id
  bind USER PASS       give the logged-in guest account a username and password
  items [IDX]          your items (all, or of kind IDX: 100 gold, 101 diamond, 102 card)
  gift ID IDX NUM      give NUM items of kind IDX to player ID
  mails [ID]           your mails (all, or mail ID)
  claim ID | read ID | delete ID    a mail's attachments, mark read, delete
  rank IDX             leaderboard by amount of item kind IDX
  rename NAME | icon N | motto TEXT | use IDX NUM
  user [ID]            a player (yourself by default)
  echo [VAL]           round trip
  wait [DURATION]      wait for a push not yet waited for (default 5s)
  logout               log out and disconnect
  help | quit
output: one JSON line each: {"res":API,"msg":{...}} answers, {"push":API,"msg":{...}}
pushes, {"error":"...","code":N} failures (code when the server gave one)`

// ClientREPL is `hive client`: it reads commands from in, one per line,
// sends them, and writes every answer and push to out as one JSON line:
//
//	{"res":"msg.GetItems.Res","msg":{...}}   the answer to a command
//	{"push":"msg.GetItems.Res","msg":{...}}  a message the server pushed
//	{"error":"...","code":3002}              a failed command ("code" only for a result code)
//
// Messages are protojson with proto field names (64-bit integers as JSON
// strings, protojson's default). Blank lines and lines starting with # are
// skipped. It returns nil at the end of input, on quit or when ctx ends;
// with FailFast, the first failure.
func ClientREPL(ctx context.Context, in io.Reader, out io.Writer, opt ClientOptions) error {
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
	for {
		if opt.Prompt != "" {
			r.write([]byte(opt.Prompt))
		}
		var line string
		select {
		case <-ctx.Done():
			return nil
		case err := <-readErr:
			if err != nil {
				return fmt.Errorf("client: reading commands: %w", err)
			}
			return nil
		case line = <-lines:
		}
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if f[0] == "quit" || f[0] == "exit" {
			return nil
		}
		cctx, cancel := context.WithTimeout(ctx, opt.Timeout)
		err := r.run(cctx, f, line)
		cancel()
		if err != nil {
			r.printErr(err)
			if opt.FailFast {
				return err
			}
		}
	}
}

// repl is the state of one ClientREPL.
type repl struct {
	opt ClientOptions
	uc  *client.UC

	wmu sync.Mutex // one line at a time: pushes come from the session's goroutine
	out io.Writer

	s     *client.Session
	auth  *msg.Auth_Res // of the current login
	pmu   sync.Mutex
	count int // pushes received
	seen  int // pushes consumed by wait
	// pushed gets a token (if there is room) on each push, to wake wait.
	pushed chan struct{}
}

// usageError is a command typed wrong.
type usageError string

func (e usageError) Error() string { return "usage: " + string(e) }

// run executes one command. f is the line split into fields.
func (r *repl) run(ctx context.Context, f []string, line string) error {
	cmd, args := f[0], f[1:]
	// rest is the text after the command, for arguments that may hold spaces.
	rest := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), cmd))
	switch cmd {
	case "help":
		r.write([]byte(replHelp + "\n"))
		return nil
	case "register":
		if len(args) != 2 {
			return usageError("register USER PASS")
		}
		res, err := r.uc.Register(ctx, args[0], args[1])
		if err != nil {
			return err
		}
		r.printRes(res)
		return nil
	case "login":
		if len(args) != 2 {
			return usageError("login USER PASS")
		}
		res, err := r.uc.Auth(ctx, args[0], args[1])
		if err != nil {
			return err
		}
		return r.connect(ctx, res)
	case "guest":
		if len(args) != 1 {
			return usageError("guest DEVICE")
		}
		res, err := r.uc.Guest(ctx, args[0])
		if err != nil {
			return err
		}
		return r.connect(ctx, res)
	case "bind":
		if len(args) != 2 {
			return usageError("bind USER PASS")
		}
		if r.auth == nil {
			return errors.New("not logged in: use guest DEVICE first")
		}
		if err := r.uc.BindAccount(ctx, r.auth.GetToken(), r.auth.GetAccountId(), args[0], args[1]); err != nil {
			return err
		}
		r.printRes(&msg.BindAccount_Res{Code: proto.Int32(0)})
		return nil
	case "wait":
		d := 5 * time.Second
		if len(args) > 1 {
			return usageError("wait [DURATION]")
		}
		if len(args) == 1 {
			var err error
			if d, err = time.ParseDuration(args[0]); err != nil {
				return usageError("wait [DURATION], e.g. wait 2s")
			}
		}
		return r.wait(ctx, d)
	}
	req, err := gameRequest(cmd, args, rest)
	if err != nil {
		return err
	}
	if r.s == nil {
		return errors.New("not logged in: use login USER PASS or guest DEVICE")
	}
	if cmd == "logout" {
		req = &msg.Logout_Req{Account: proto.Int64(r.s.User().GetAccount())}
	}
	res, err := r.s.Do(ctx, req)
	if err != nil {
		return err
	}
	r.printRes(res)
	if cmd == "logout" {
		r.disconnect()
	}
	return nil
}

// gameRequest builds the request of a game command.
func gameRequest(cmd string, args []string, rest string) (proto.Message, error) {
	ints := func(usage string, min, max int) ([]int64, error) {
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
	opt := func(v []int64) int64 { // the optional first argument, 0 when absent
		if len(v) == 0 {
			return 0
		}
		return v[0]
	}
	event := func(oper def.EventType, e *def.Event) *msg.SetEvent_Req {
		e.Oper = proto.Int32(int32(oper))
		return &msg.SetEvent_Req{Event: e}
	}
	switch cmd {
	case "items":
		v, err := ints("items [IDX]", 0, 1)
		return &msg.GetItems_Req{Idx: proto.Int32(int32(opt(v)))}, err
	case "gift":
		v, err := ints("gift ID IDX NUM", 3, 3)
		if err != nil {
			return nil, err
		}
		return &msg.GiftItems_Req{DstId: proto.Int64(v[0]), ItemIdx: proto.Int32(int32(v[1])), ItemNum: proto.Int32(int32(v[2]))}, nil
	case "mails":
		v, err := ints("mails [ID]", 0, 1)
		return &msg.GetMails_Req{Id: proto.Int64(opt(v))}, err
	case "claim", "read", "delete":
		v, err := ints(cmd+" ID", 1, 1)
		if err != nil {
			return nil, err
		}
		switch cmd {
		case "claim":
			return &msg.ClaimMail_Req{Id: proto.Int64(v[0])}, nil
		case "read":
			return &msg.ReadMail_Req{Id: proto.Int64(v[0])}, nil
		}
		return &msg.DeleteMail_Req{Id: proto.Int64(v[0])}, nil
	case "rank":
		v, err := ints("rank IDX", 1, 1)
		if err != nil {
			return nil, err
		}
		return &msg.GetRank_Req{Type: proto.Int32(int32(v[0]))}, nil
	case "user":
		v, err := ints("user [ID]", 0, 1)
		return &msg.GetUser_Req{Id: proto.Int64(opt(v))}, err
	case "echo":
		v, err := ints("echo [VAL]", 0, 1)
		return &msg.Echo_Req{Val: proto.Int64(opt(v)), Ct: proto.Int64(time.Now().UnixMilli())}, err
	case "rename":
		if rest == "" {
			return nil, usageError("rename NAME")
		}
		return event(def.EventType_EVENT_RENAME, &def.Event{ArgStr: proto.String(rest)}), nil
	case "motto":
		return event(def.EventType_EVENT_MOD_MOTTO, &def.Event{ArgStr: proto.String(rest)}), nil
	case "icon":
		v, err := ints("icon N", 1, 1)
		if err != nil {
			return nil, err
		}
		return event(def.EventType_EVENT_MOD_ICON, &def.Event{ArgA: proto.Int32(int32(v[0]))}), nil
	case "use":
		v, err := ints("use IDX NUM", 2, 2)
		if err != nil {
			return nil, err
		}
		return event(def.EventType_EVENT_ITEM_USE, &def.Event{ArgA: proto.Int32(int32(v[0])), ArgB: proto.Int32(int32(v[1]))}), nil
	case "logout":
		if len(args) != 0 {
			return nil, usageError("logout")
		}
		return &msg.Logout_Req{}, nil // the account is filled in by run
	}
	return nil, fmt.Errorf("unknown command %q (try help)", cmd)
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
	r.printMsg("res", string(m.ProtoReflect().Descriptor().FullName()), m)
}

// replLine is one output line of ClientREPL: an answer (Res), a push
// (Push) or a failure (Error, with Code when the server gave one).
type replLine struct {
	Res   string          `json:"res,omitempty"`
	Push  string          `json:"push,omitempty"`
	Msg   json.RawMessage `json:"msg,omitempty"`
	Error string          `json:"error,omitempty"`
	Code  *int32          `json:"code,omitempty"`
}

// printMsg prints {"res"|"push":api,"msg":{...}}.
func (r *repl) printMsg(kind, api string, m proto.Message) {
	b, err := jsonOpts.Marshal(m)
	if err != nil {
		r.printErr(err)
		return
	}
	l := replLine{Msg: b}
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
	l := replLine{Error: err.Error()}
	if c, ok := client.CodeOf(err); ok {
		l.Code = proto.Int32(int32(c))
	}
	r.printLine(l)
}

// printLine writes l as one JSON line.
func (r *repl) printLine(l replLine) {
	b, err := json.Marshal(l)
	if err != nil {
		b, _ = json.Marshal(replLine{Error: err.Error()})
	}
	r.write(append(b, '\n'))
}

// write writes one complete line (or prompt) at a time.
func (r *repl) write(b []byte) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	_, _ = r.out.Write(b)
}

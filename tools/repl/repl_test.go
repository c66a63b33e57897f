package repl

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"encoding/json"

	"github.com/qeetap/hive/client/clienttest"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/tools/internal/tooltest"
)

// runREPL runs a script against a fake uc and gate and returns the output
// lines, split into pushes and the rest (answers and errors, in order).
func runREPL(t *testing.T, script string, opt Options) (lines, pushes []map[string]any, err error) {
	t.Helper()
	g := clienttest.StartGate(t, nil)
	uc := clienttest.StartUC(t, g.Addr())
	opt.UC = uc.URL
	var out tooltest.Buffer
	err = Run(tooltest.Ctx(t), strings.NewReader(script), &out, opt)
	for _, l := range tooltest.ParseLines(t, out.Bytes()) {
		if l["push"] != nil {
			pushes = append(pushes, l)
		} else {
			lines = append(lines, l)
		}
	}
	return lines, pushes, err
}

// expect is what one output line should hold: res or error, and code.
type expect struct {
	res  string // answer api, or "" for an error line
	code int    // result code of an error line, -1 for none
	has  string // a substring of the error, or of the message's JSON
}

func TestREPLScript(t *testing.T) {
	script := `
# a comment, then a blank line

items
register alice pw
register alice pw
login alice wrong
login alice pw
items
gift 2 100 3
wait 10s
gift 2 100 11
rename neo
rename taken
bogus
gift x
user
user 7
echo 5
mails
claim 1
read 1
delete 1
rank 100
motto hello world
icon 3
logout
items
guest dev1-0123456789abcdefgh
bind bob pw2
quit
items
`
	lines, pushes, err := runREPL(t, script, Options{})
	// 8 of the 27 commands before quit fail.
	if !errors.Is(err, ErrCommandsFailed) || !strings.Contains(err.Error(), "8 of 27") {
		t.Fatalf("err = %v, want 8 of 27 %v", err, ErrCommandsFailed)
	}
	want := []expect{
		{"", -1, "not logged in"},
		{"msg.Auth.Res", 0, `"token":"tok-alice"`},
		{"", 203, "RC_ACCOUNT_CREATE_DUPLICATE"},
		{"", 201, "RC_AUTH_INVALID_USER"},
		{"msg.Login.Res", 0, `"id":"10001"`},
		{"msg.GetItems.Res", 0, `"num":"100"`},
		{"msg.GiftItems.Res", 0, `"code":0`},
		{"", 3002, "msg.GiftItems.Req: RC_ITEM_NOT_ENOUGH"},
		{"msg.SetEvent.Res", 0, `"code":0`},
		{"", 3006, "RC_NAME_TAKEN"},
		{"", -1, `unknown command "bogus"`},
		{"", -1, "usage: gift ID IDX NUM"},
		{"msg.GetUser.Res", 0, `"name":"p10001"`},
		{"msg.GetUser.Res", 0, ""},
		{"msg.Echo.Res", 0, `"val":"5"`},
		{"msg.GetMails.Res", 0, ""},
		{"msg.ClaimMail.Res", 0, `"num":"5"`},
		{"msg.ReadMail.Res", 0, ""},
		{"msg.DeleteMail.Res", 0, ""},
		{"msg.GetRank.Res", 0, `"type":100`},
		{"msg.SetEvent.Res", 0, ""},
		{"msg.SetEvent.Res", 0, ""},
		{"msg.Logout.Res", 0, ""},
		{"", -1, "not logged in"},
		{"msg.Login.Res", 0, ""},
		{"msg.BindAccount.Res", 0, ""},
	}
	if len(lines) != len(want) {
		for _, l := range lines {
			t.Log(l)
		}
		t.Fatalf("%d lines, want %d", len(lines), len(want))
	}
	for i, w := range want {
		l := lines[i]
		js := mustJSON(t, l)
		if w.res != "" {
			if l["res"] != w.res || l["msg"] == nil || !strings.Contains(js, w.has) {
				t.Errorf("line %d: %s, want res %s containing %s", i+1, js, w.res, w.has)
			}
			continue
		}
		msg, _ := l["error"].(string)
		code, hasCode := l["code"].(float64)
		if !strings.Contains(msg, w.has) || hasCode != (w.code >= 0) || (hasCode && int(code) != w.code) {
			t.Errorf("line %d: %s, want error with code %d containing %q", i+1, js, w.code, w.has)
		}
	}
	if len(pushes) != 1 || pushes[0]["push"] != "msg.GetItems.Res" || !strings.Contains(mustJSON(t, pushes[0]), `"num":"97"`) {
		t.Fatalf("pushes %v", pushes)
	}
}

func TestREPLFailFast(t *testing.T) {
	lines, _, err := runREPL(t, "echo 1\nitems\necho 2\n", Options{FailFast: true})
	if err == nil || !strings.Contains(err.Error(), "not logged in") {
		t.Fatalf("err = %v", err)
	}
	if len(lines) != 1 {
		t.Fatalf("lines %v: it went on after the failure", lines)
	}
}

func TestREPLWaitTimesOut(t *testing.T) {
	lines, _, err := runREPL(t, "login nobody x\nregister a b\nlogin a b\nwait 10ms\n", Options{})
	if !errors.Is(err, ErrCommandsFailed) || !strings.Contains(err.Error(), "2 of 4") {
		t.Fatalf("err = %v, want 2 of 4 failed", err)
	}
	if len(lines) != 4 || !strings.Contains(lines[3]["error"].(string), "no push within") {
		t.Fatalf("lines %v", lines)
	}
}

func TestREPLStopsOnCancel(t *testing.T) {
	g := clienttest.StartGate(t, nil)
	uc := clienttest.StartUC(t, g.Addr())
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(tooltest.Ctx(t))
	var out tooltest.Buffer
	done := make(chan error, 1)
	go func() { done <- Run(ctx, pr, &out, Options{UC: uc.URL, Prompt: "> "}) }()
	if _, err := io.WriteString(pw, "help\n"); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := Run(tooltest.Ctx(t), strings.NewReader(""), io.Discard, Options{}); err == nil {
		t.Fatal("no uc URL accepted")
	}
}

func mustJSON(t *testing.T, v map[string]any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A script whose every command succeeds returns nil; one failure is enough
// for an error.
func TestREPLVerdict(t *testing.T) {
	if _, _, err := runREPL(t, "register a b\nlogin a b\nitems\necho 1\nquit\nbogus\n", Options{}); err != nil {
		t.Fatalf("all succeeded: %v", err)
	}
	for _, script := range []string{"bogus\n", "register a b\nlogin a wrong\n", "register a b\nlogin a b\ngift 2 100 11\n", "items\n"} {
		if _, _, err := runREPL(t, script, Options{}); !errors.Is(err, ErrCommandsFailed) {
			t.Errorf("%q: err = %v, want %v", script, err, ErrCommandsFailed)
		}
	}
}

// The prompt comes after the answer to the command given as arguments,
// and after each answer; at the end of input the prompt line is ended.
func TestREPLPromptAfterAnswer(t *testing.T) {
	g := clienttest.StartGate(t, nil)
	uc := clienttest.StartUC(t, g.Addr())
	var out tooltest.Buffer
	err := Run(tooltest.Ctx(t), strings.NewReader("echo 7\n"), &out, Options{UC: uc.URL, Prompt: "hive> ", First: "guest dev1"})
	if err != nil {
		t.Fatal(err)
	}
	got := string(out.Bytes())
	lines := strings.Split(got, "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], `{"res":"msg.Login.Res"`) ||
		!strings.HasPrefix(lines[1], `hive> {"res":"msg.Echo.Res"`) || lines[2] != "hive> " || lines[3] != "" {
		t.Fatalf("output %q: want the login answer, then a prompt before each command, and the last prompt ended", got)
	}
}

// A push while the prompt waits goes on a line of its own, and the prompt
// comes again.
func TestREPLPushBelowPrompt(t *testing.T) {
	var out bytes.Buffer
	r := &repl{opt: Options{Prompt: "hive> "}, out: &out, pushed: make(chan struct{}, 1)}
	r.showPrompt()
	r.printPush("msg.GetItems.Res", &msg.GetItems_Res{Code: proto.Int32(0)})
	want := "hive> \n" + `{"push":"msg.GetItems.Res","msg":{"code":0}}` + "\nhive> "
	if out.String() != want {
		t.Fatalf("output %q, want %q", out.String(), want)
	}
	r.lineRead()
	r.printRes(&msg.Echo_Res{Val: proto.Int64(1)})
	if !strings.HasSuffix(out.String(), "hive> "+`{"res":"msg.Echo.Res","msg":{"val":"1"}}`+"\n") {
		t.Fatalf("an answer after the line was read: %q", out.String())
	}
}

// Pretty prints indented text, not JSON.
func TestREPLPretty(t *testing.T) {
	g := clienttest.StartGate(t, nil)
	uc := clienttest.StartUC(t, g.Addr())
	var out tooltest.Buffer
	err := Run(tooltest.Ctx(t), strings.NewReader("guest dev1\nitems\nbogus\n"), &out, Options{UC: uc.URL, Pretty: true})
	if !errors.Is(err, ErrCommandsFailed) {
		t.Fatalf("err = %v", err)
	}
	got := string(out.Bytes())
	for _, want := range []string{"msg.Login.Res:\n  code:", "msg.GetItems.Res:\n", "\n  items:", "error: unknown command \"bogus\""} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, `{"res"`) {
		t.Errorf("JSON in pretty output:\n%s", got)
	}
}

// uc unreachable: the error says to start hive dev.
func TestREPLUnreachableUCHint(t *testing.T) {
	var out tooltest.Buffer
	err := Run(tooltest.Ctx(t), strings.NewReader("login a b\n"), &out, Options{UC: "http://127.0.0.1:1"})
	if !errors.Is(err, ErrCommandsFailed) || !strings.Contains(string(out.Bytes()), "go run ./cmd/hive dev") {
		t.Fatalf("err %v, output %s: want a failure and the hint", err, out.Bytes())
	}
}

// help is generated from the command table: every command has its line.
func TestREPLHelpListsEveryCommand(t *testing.T) {
	h := helpText()
	for _, c := range commands {
		if c.help != "" && !strings.Contains(h, "\n  "+c.name) {
			t.Errorf("help lacks %s:\n%s", c.name, h)
		}
	}
}

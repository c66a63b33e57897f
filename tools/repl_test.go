package tools

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/qeetap/hive/client/clienttest"
)

// runREPL runs a script against a fake uc and gate and returns the output
// lines, split into pushes and the rest (answers and errors, in order).
func runREPL(t *testing.T, script string, opt ClientOptions) (lines, pushes []map[string]any, err error) {
	t.Helper()
	g := clienttest.StartGate(t, nil)
	uc := clienttest.StartUC(t, g.Addr())
	opt.UC = uc.URL
	var out syncBuffer
	err = ClientREPL(testCtx(t), strings.NewReader(script), &out, opt)
	for _, l := range parseLines(t, out.Bytes()) {
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

func TestClientREPLScript(t *testing.T) {
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
	lines, pushes, err := runREPL(t, script, ClientOptions{})
	if err != nil {
		t.Fatal(err)
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

func TestClientREPLFailFast(t *testing.T) {
	lines, _, err := runREPL(t, "echo 1\nitems\necho 2\n", ClientOptions{FailFast: true})
	if err == nil || !strings.Contains(err.Error(), "not logged in") {
		t.Fatalf("err = %v", err)
	}
	if len(lines) != 1 {
		t.Fatalf("lines %v: it went on after the failure", lines)
	}
}

func TestClientREPLWaitTimesOut(t *testing.T) {
	lines, _, err := runREPL(t, "login nobody x\nregister a b\nlogin a b\nwait 10ms\n", ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != 4 || !strings.Contains(lines[3]["error"].(string), "no push within") {
		t.Fatalf("lines %v", lines)
	}
}

func TestClientREPLStopsOnCancel(t *testing.T) {
	g := clienttest.StartGate(t, nil)
	uc := clienttest.StartUC(t, g.Addr())
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(testCtx(t))
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- ClientREPL(ctx, pr, &out, ClientOptions{UC: uc.URL, Prompt: "> "}) }()
	if _, err := io.WriteString(pw, "help\n"); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := ClientREPL(testCtx(t), strings.NewReader(""), io.Discard, ClientOptions{}); err == nil {
		t.Fatal("no uc URL accepted")
	}
}

func mustJSON(t *testing.T, v map[string]any) string {
	t.Helper()
	b, err := jsonMarshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

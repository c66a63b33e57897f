package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qeetap/hive/internal/testenv"
)

// walkthroughMark is the HTML comment (invisible on GitHub) that marks a
// fenced block of README.md as part of the first session a newcomer
// follows; TestReadmeWalkthrough runs every marked block, in order.
const walkthroughMark = "<!-- walkthrough -->"

// walkStep is one command of the README's walkthrough.
type walkStep struct {
	line  int      // in README.md
	text  string   // as written
	words []string // the command, without a pipe or redirection
	input []string // `hive> ` lines that follow a hive client command
	pipe  string   // what the output is piped into, "" for none
	null  bool     // stdin is /dev/null
}

// readWalkthrough returns the commands of README.md's marked blocks. A line
// it cannot run is an error: the README's first session must stay something
// a newcomer can type.
func readWalkthrough(t *testing.T, readme string) []*walkStep {
	t.Helper()
	var steps []*walkStep
	lines := strings.Split(readme, "\n")
	blocks := 0
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != walkthroughMark {
			continue
		}
		i++
		for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
			i++
		}
		if i >= len(lines) || !strings.HasPrefix(lines[i], "```") {
			t.Fatalf("README.md:%d: %s is not followed by a fenced block", i+1, walkthroughMark)
		}
		blocks++
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			l := strings.TrimSpace(lines[i])
			switch {
			case l == "" || strings.HasPrefix(l, "#"):
			case strings.HasPrefix(l, "hive> "):
				if len(steps) == 0 || len(steps[len(steps)-1].words) < 2 || steps[len(steps)-1].words[1] != "client" {
					t.Fatalf("README.md:%d: %q follows no hive client command", i+1, l)
				}
				steps[len(steps)-1].input = append(steps[len(steps)-1].input, strings.TrimPrefix(l, "hive> "))
			default:
				s := &walkStep{line: i + 1, text: l}
				words := shellWords(t, i+1, l)
				for j, w := range words {
					if w == "|" {
						s.pipe = strings.Join(words[j+1:], " ")
						words = words[:j]
						break
					}
				}
				if n := len(words); n >= 2 && words[n-2] == "<" {
					if words[n-1] != "/dev/null" {
						t.Fatalf("README.md:%d: only < /dev/null is understood here", i+1)
					}
					s.null, words = true, words[:n-2]
				}
				if len(words) >= 3 && words[0] == "go" && words[1] == "run" && words[2] == "./cmd/hive" {
					words = append([]string{"hive"}, words[3:]...)
				}
				if len(words) < 2 || (words[0] != "hive" && words[0] != "curl") {
					t.Fatalf("README.md:%d: the walkthrough runs curl and hive commands only, not %q", i+1, l)
				}
				s.words = words
				steps = append(steps, s)
			}
		}
	}
	if blocks == 0 {
		t.Fatalf("README.md has no %s blocks", walkthroughMark)
	}
	return steps
}

// shellWords splits a command line as sh would for the simple commands of
// the README: words, '...' and "..." quoting, and | and < as words of
// their own.
func shellWords(t *testing.T, line int, s string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(c)
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == ' ' || c == '\t':
			if in {
				words, in = append(words, cur.String()), false
				cur.Reset()
			}
		case c == '|' || c == '<':
			if in {
				words, in = append(words, cur.String()), false
				cur.Reset()
			}
			words = append(words, string(c))
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		t.Fatalf("README.md:%d: unbalanced quote in %q", line, s)
	}
	if in {
		words = append(words, cur.String())
	}
	return words
}

// where names the step's place for a failure: its README line, or what
// the test added after the README's steps.
func (s *walkStep) where() string {
	if s.line == 0 {
		return "after the README's steps"
	}
	return fmt.Sprintf("README.md:%d", s.line)
}

// walk is the state of a walkthrough: who registered, what was given.
type walk struct {
	t        *testing.T
	dataDir  string
	dev      *devProc
	restarts int
	accounts []int64             // registered, in order
	creds    map[int64][2]string // account -> username, password
	gold     map[int64]int64     // gold (item 100) at the player's first login
	given    map[int64]int64     // gold given to each player by the walkthrough's gifts
	ranked   int                 // rank 100 answers checked after a restart
	tapped   bool                // the analytics one-liner ran
}

// The README's first session, followed step by step against the built
// binary on free ports and a temporary data dir: the marked blocks start
// hive dev, register two players with curl, log both in, give a gift, read
// the leaderboard, restart hive dev and read it again, and run the
// analytics examples (the tap part of each pipeline). Then, beyond the
// README's text: the gift landed (replay), and a second hive dev on the
// same data dir is refused while the first runs, which keeps answering.
func TestReadmeWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("starts hive dev three times")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	steps := readWalkthrough(t, string(readme))
	w := &walk{t: t, dataDir: filepath.Join(t.TempDir(), "data"), creds: map[int64][2]string{}, gold: map[int64]int64{}, given: map[int64]int64{}}
	for _, s := range steps {
		switch {
		case s.words[0] == "curl":
			w.curl(s)
		case s.words[1] == "dev":
			w.startDev(s)
		case w.dev == nil:
			t.Fatalf("README.md:%d: %q before hive dev runs", s.line, s.text)
		case s.words[1] == "client":
			w.client(s)
		case s.words[1] == "tap":
			w.tap(s)
		default:
			t.Fatalf("README.md:%d: the walkthrough does not run hive %s", s.line, s.words[1])
		}
	}

	// The README's session must still be the one this test is about.
	if len(w.accounts) < 2 || len(w.given) == 0 || w.restarts == 0 || w.ranked == 0 || !w.tapped {
		t.Errorf("the README's walkthrough lost a step: %d players registered (want 2), gifts to %v, %d restarts, "+
			"%d rank 100 answers after a restart, analytics one-liner run: %v", len(w.accounts), w.given, w.restarts, w.ranked, w.tapped)
	}

	// The gifts landed: each receiver's gold, rebuilt from the events alone.
	for to, n := range w.given {
		var u userJSON
		if err := json.Unmarshal([]byte(hiveOK(t, "replay", "--nats", w.dev.natsURL, "--data-dir", w.dataDir, "--player", fmt.Sprint(to))), &u); err != nil {
			t.Fatal(err)
		}
		if got, want := u.items()[100], fmt.Sprint(w.gold[to]+n); got != want {
			t.Errorf("player %d replayed: %s gold, want %s (%d at first login + %d given)", to, got, want, w.gold[to], n)
		}
	}

	if len(w.accounts) == 0 {
		t.Fatal("the README's walkthrough registers nobody")
	}
	w.secondDevRefused()
	// The first one still answers, with both players ranked.
	first := w.creds[w.accounts[0]]
	w.client(&walkStep{text: "after the second hive dev", words: []string{"hive", "client", "login", first[0], first[1]}, input: []string{"rank 100"}})
	w.interrupt()
}

// startDev is `hive dev`: (re)started on the walkthrough's data dir, on free
// ports. A running one is stopped first, with Ctrl-C's SIGINT.
func (w *walk) startDev(s *walkStep) {
	if len(s.words) != 2 {
		w.t.Fatalf("README.md:%d: %q: the walkthrough starts hive dev without flags", s.line, s.text)
	}
	if w.dev != nil {
		w.interrupt()
		w.restarts++
	}
	w.dev = startDev(w.t, w.dataDir)
}

// interrupt stops hive dev as Ctrl-C does and waits for a clean exit.
func (w *walk) interrupt() {
	t := w.t
	t.Helper()
	if err := w.dev.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-w.dev.exited:
		if err != nil {
			t.Fatalf("hive dev after Ctrl-C (SIGINT): %v, want exit 0", err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("hive dev did not exit within 90s of SIGINT")
	}
}

// curl is a registration: curl -X POST -d BODY URL, sent to the test's uc.
func (w *walk) curl(s *walkStep) {
	t := w.t
	var body, target string
	for i := 1; i < len(s.words); i++ {
		switch a := s.words[i]; {
		case a == "-X" && i+1 < len(s.words) && s.words[i+1] == "POST":
			i++
		case a == "-d" && i+1 < len(s.words):
			i++
			body = s.words[i]
		case a == "-s":
		case strings.HasPrefix(a, "http://127.0.0.1:8082/"):
			target = w.dev.ucURL + strings.TrimPrefix(a, "http://127.0.0.1:8082")
		default:
			t.Fatalf("README.md:%d: curl argument %q not understood here", s.line, a)
		}
	}
	if body == "" || !strings.HasSuffix(target, "/v1/account/registry") {
		t.Fatalf("README.md:%d: %q: want curl -X POST -d BODY http://127.0.0.1:8082/v1/account/registry", s.line, s.text)
	}
	form, err := url.ParseQuery(body)
	if err != nil {
		t.Fatalf("README.md:%d: %v", s.line, err)
	}
	res, err := http.Post(target, "application/x-www-form-urlencoded", strings.NewReader(body))
	if err != nil {
		t.Fatalf("README.md:%d: %v", s.line, err)
	}
	defer res.Body.Close()
	var ans struct {
		Code      *int  `json:"code"`
		AccountID int64 `json:"account_id"`
	}
	if err := json.NewDecoder(res.Body).Decode(&ans); err != nil || ans.Code == nil || *ans.Code != 0 || ans.AccountID == 0 {
		t.Fatalf("README.md:%d: %q answered code %v, account_id %d (%v); want code 0 and an account_id", s.line, s.text, ans.Code, ans.AccountID, err)
	}
	w.accounts = append(w.accounts, ans.AccountID)
	w.creds[ans.AccountID] = [2]string{form.Get("username"), form.Get("password")}
}

// client runs hive client against the test's uc with the step's `hive> `
// lines on stdin, and checks every answer: the exit status, no failure,
// one answer per command, the gift's receiver, the leaderboard.
func (w *walk) client(s *walkStep) {
	t := w.t
	args := append([]string{"client", "--uc", w.dev.ucURL}, s.words[2:]...)
	stdin := ""
	if !s.null && len(s.input) > 0 {
		stdin = strings.Join(s.input, "\n") + "\n"
	}
	commands := s.input
	if len(s.words) > 2 {
		commands = append([]string{strings.Join(s.words[2:], " ")}, commands...)
	}
	if s.null {
		commands = commands[:1]
	}
	out, errOut, code := w.run(s, stdin, args...)
	// Right after a start the leader may still be rebuilding the
	// leaderboards from the stream; rank answers RC_RANK_NOT_READY (3012)
	// meanwhile. A session that only reads is run again until they are back.
	for tries := 0; strings.Contains(out, `"code":3012`) && readOnly(commands) && tries < 300; tries++ {
		time.Sleep(100 * time.Millisecond)
		out, errOut, code = w.run(s, stdin, args...)
	}
	if code != 0 {
		t.Fatalf("%s: %q with %q: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", s.where(), s.text, s.input, code, out, errOut)
	}
	var answers []clientLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var cl clientLine
		if err := json.Unmarshal([]byte(l), &cl); err != nil {
			t.Fatalf("%s: hive client printed a line that is not JSON: %q", s.where(), l)
		}
		if cl.Error != "" {
			t.Fatalf("%s: %q with %q failed: %s\nstdout:\n%s", s.where(), s.text, s.input, l, out)
		}
		if cl.Push == "" {
			answers = append(answers, cl)
		}
	}
	if len(answers) != len(commands) {
		t.Fatalf("%s: %d answers to %q, want %d:\n%s", s.where(), len(answers), commands, len(commands), out)
	}
	var self int64
	for i, cmd := range commands {
		f := strings.Fields(cmd)
		switch f[0] {
		case "login":
			u := userOf(t, answers[i])
			self, _ = strconv.ParseInt(u.ID, 10, 64)
			if _, seen := w.gold[self]; !seen {
				w.gold[self], _ = strconv.ParseInt(u.items()[100], 10, 64)
			}
		case "gift":
			to, _ := strconv.ParseInt(f[1], 10, 64)
			if _, ok := w.creds[to]; !ok || to == self {
				t.Fatalf("%s: gift to %d: want another player the walkthrough registered (%v)", s.where(), to, w.accounts)
			}
			if _, ok := w.gold[to]; !ok {
				t.Fatalf("%s: gift to %d, who never logged in: the game has no such player yet", s.where(), to)
			}
			if f[2] == "100" {
				n, _ := strconv.ParseInt(f[3], 10, 64)
				w.given[to] += n
			}
		case "rank":
			if f[1] != "100" {
				continue
			}
			var r struct {
				Code int `json:"code"`
				Rank struct {
					Items []struct {
						Val  string `json:"val"`
						User struct {
							ID string `json:"id"`
						} `json:"user"`
					} `json:"items"`
				} `json:"rank"`
			}
			if err := json.Unmarshal(answers[i].Msg, &r); err != nil || r.Code != 0 {
				t.Fatalf("%s: rank 100 answered %s (%v)", s.where(), answers[i].Msg, err)
			}
			ranked := map[string]bool{}
			for _, it := range r.Rank.Items {
				ranked[it.User.ID] = true
			}
			for _, a := range w.accounts {
				if !ranked[fmt.Sprint(a)] {
					t.Errorf("%s (%s, %d restarts): rank 100 = %s, lacks player %d", s.where(), s.text, w.restarts, answers[i].Msg, a)
				}
			}
			if w.restarts > 0 {
				w.ranked++
			}
		}
	}
}

// readOnly reports whether a client session only logs in and reads, so
// running it again changes nothing.
func readOnly(commands []string) bool {
	for _, c := range commands {
		switch strings.Fields(c)[0] {
		case "login", "items", "rank", "user", "mails", "echo", "help":
		default:
			return false
		}
	}
	return true
}

// tap runs a hive tap line (the part before a pipe) against the test's NATS:
// it must end by itself and print the events stored.
func (w *walk) tap(s *walkStep) {
	t := w.t
	oneLiner := strings.Contains(s.pipe, "jq") // the analytics one-liner
	if oneLiner {
		w.tapped = true
	}
	args := append([]string{"tap", "--nats", w.dev.natsURL}, s.words[2:]...)
	out, errOut, code := w.run(s, "", args...)
	if code != 0 {
		t.Errorf("README.md:%d: %q: exit %d, want 0\nstderr:\n%s", s.line, s.text, code, errOut)
		return
	}
	subject := ""
	for i, a := range s.words {
		if a == "--subject" && i+1 < len(s.words) {
			subject = s.words[i+1]
		}
	}
	types := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var tl struct {
			StreamSeq uint64 `json:"stream_seq"`
			Subject   string `json:"subject"`
			Type      string `json:"type"`
		}
		if err := json.Unmarshal([]byte(l), &tl); err != nil || tl.StreamSeq == 0 || tl.Type == "" {
			t.Errorf("README.md:%d: %q printed %q, want one event per line", s.line, s.text, l)
			return
		}
		if subject != "" && tl.Subject != subject {
			t.Errorf("README.md:%d: %q printed an event of %s", s.line, s.text, tl.Subject)
		}
		types[tl.Type]++
	}
	if oneLiner {
		if types["evt.AccountRegistered"] != len(w.accounts) || types["evt.GiftSent"] == 0 || types["evt.GiftReceived"] == 0 {
			t.Errorf("README.md:%d: %q: event types %v, want %d AccountRegistered and the gift's GiftSent and GiftReceived", s.line, s.text, types, len(w.accounts))
		}
	}
}

// run runs the binary for a step; a command that does not end within 30s
// is killed and reported (the README's examples must end by themselves).
func (w *walk) run(s *walkStep, stdin string, args ...string) (stdout, stderr string, code int) {
	t := w.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, hiveBin(t), args...)
	// As in the README, the tools run where `hive dev` keeps ./data and
	// find its NATS credentials there.
	cmd.Dir = filepath.Dir(w.dataDir)
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s: %q (hive %q) did not end within 30s; printed:\n%s", s.where(), s.text, args, o.String())
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("hive %v: %v", args, err)
	}
	return o.String(), e.String(), 0
}

// secondDevRefused starts another hive dev on the running one's data dir
// (on other ports, so only the data dir is shared): it must exit non-zero
// before serving, naming the pid that holds the data dir.
func (w *walk) secondDevRefused() {
	t := w.t
	addr := func() string { return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)) }
	metrics := addr()
	cmd := exec.Command(hiveBin(t), "dev", "--data-dir", w.dataDir, "--nats-listen", addr(),
		"--uc-listen", addr(), "--gate-listen", addr(), "--gate-ws-listen", addr(), "--metrics-listen", metrics)
	cmd.Env = cleanEnv()
	var out, errOut syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	}()
	// Either it exits, or it comes up serving (the defect): watch for both.
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() == 0 {
				t.Errorf("a second hive dev on the same data dir: %v, want a non-zero exit", err)
			}
			if pid := strconv.Itoa(w.dev.cmd.Process.Pid); !strings.Contains(errOut.String(), pid) {
				t.Errorf("a second hive dev on the same data dir said %q, want the holder's pid %s named", errOut.String(), pid)
			}
			// nats-server says this when it opens a store another server has open.
			if strings.Contains(errOut.String(), "Stream state outdated") {
				t.Errorf("a second hive dev opened the running one's JetStream store before refusing:\n%s", errOut.String())
			}
			return
		default:
		}
		if res, err := http.Get("http://" + metrics + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				t.Errorf("a second hive dev on the data dir of a running one started serving; stderr:\n%s", errOut.String())
				return
			}
		}
		if time.Now().After(deadline) {
			t.Errorf("a second hive dev on the same data dir neither exited nor served within 60s")
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The README's command lines split as sh splits them.
func TestShellWords(t *testing.T) {
	for line, want := range map[string]string{
		`curl -X POST -d 'username=lisp&password=secret-lisp-1' http://127.0.0.1:8082/v1/account/registry`: `curl|-X|POST|-d|username=lisp&password=secret-lisp-1|http://127.0.0.1:8082/v1/account/registry`,
		`hive client login alan secret-alan-1 < /dev/null`:                                                 `hive|client|login|alan|secret-alan-1|<|/dev/null`,
		`hive tap --since 24h --no-follow | jq -r '[.time[0:13], .type] | @tsv' | sort`:                    `hive|tap|--since|24h|--no-follow|||jq|-r|[.time[0:13], .type] | @tsv|||sort`,
		`hive admin mail --title "Sorry all"`:                                                              `hive|admin|mail|--title|Sorry all`,
	} {
		if got := strings.Join(shellWords(t, 0, line), "|"); got != want {
			t.Errorf("shellWords(%q) = %q, want %q", line, got, want)
		}
	}
}

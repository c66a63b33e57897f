package repl

import (
	"encoding/json"
	"io"
	"strings"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/tools/internal/jsonl"
)

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

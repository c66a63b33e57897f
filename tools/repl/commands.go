package repl

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

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

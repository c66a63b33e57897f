package game

import (
	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/evt"
	"github.com/qeetap/hive/proto/msg"
)

// push sends what a command's events call for to the players' live sessions
// (user.<id>): all items after any change to them, each new mail.
func (w *Worker) push(out *events.Outcome[*Player]) {
	if len(out.Events) == 0 {
		return
	}
	var itemsChanged []int64
	mails := map[int64][]*def.Mail{}
	for _, e := range out.Events {
		_, id, err := bus.ParseEventSubject(e.Subject)
		if err != nil {
			continue
		}
		switch m := e.Msg.(type) {
		case *evt.ItemsGranted, *evt.ItemsUsed, *evt.GiftSent, *evt.GiftReceived, *evt.GiftReturned, *evt.MailClaimed:
			if !contains(itemsChanged, id) {
				itemsChanged = append(itemsChanged, id)
			}
		case *evt.MailReceived:
			mails[id] = append(mails[id], m.GetMail())
		}
	}
	for _, st := range out.States {
		if contains(itemsChanged, st.ID) {
			w.reply(st.ID, &msg.GetItems_Res{Code: okCode(), Items: st.State.GetUser().GetItems()})
		}
		if ms := mails[st.ID]; len(ms) > 0 {
			w.reply(st.ID, &msg.GetMails_Res{Code: okCode(), Mails: ms})
		}
	}
}

func contains(s []int64, v int64) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

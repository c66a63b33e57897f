package game

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/events"
	"github.com/qeetap/hive/proto/def"
)

// Operator commands on the bus (never reachable by clients: the gate only
// forwards msg.*.Req).
const (
	// AdminMail is the command of bus.AdminSubject(AdminMail) = admin.mail.
	AdminMail = "mail"
	// HdrAdminToken carries the operator credential (--game-admin-token).
	HdrAdminToken = "Hive-Admin-Token"
	// adminMailTimeout bounds one delivery to every player.
	adminMailTimeout = 10 * time.Minute
	// Limits of an operator mail.
	MaxMailTitleRunes   = 64
	MaxMailContentRunes = 2048
	MaxMailItems        = 16
)

// MailRequest is an operator mail (`hive admin mail`), JSON on admin.mail.
type MailRequest struct {
	// ID makes delivery idempotent: sending the same ID again delivers to
	// nobody who already got it. Empty = SendMail generates one.
	ID      string   `json:"id"`
	To      []int64  `json:"to,omitempty"`  // recipients, or
	All     bool     `json:"all,omitempty"` // every player that exists
	Title   string   `json:"title"`
	Content string   `json:"content"`
	Items   []Amount `json:"items,omitempty"` // attachments, granted by ClaimMail
}

// MailFailure is a recipient the mail did not reach.
type MailFailure struct {
	To   int64 `json:"to"`
	Code int32 `json:"code"` // def.ResCode: RC_USER_NOT_FOUND, RC_SERVER_INTERNAL_ERROR
}

// MailResult answers a MailRequest. Code is RC_OK when the request was
// valid and authorised (Failed lists recipients it did not reach),
// RC_FORBIDDEN for a bad token, RC_BAD_REQUEST (with Error) for a bad
// request, RC_ITEM_OVERFLOW (with Error and MaxAmount) for an attachment
// over the operator bound (--game-mail-max-amount).
type MailResult struct {
	Code      int32         `json:"code"`
	CodeName  string        `json:"code_name,omitempty"` // def.ResCode name of a refusal, e.g. RC_ITEM_OVERFLOW
	Error     string        `json:"error,omitempty"`
	MaxAmount int64         `json:"max_amount,omitempty"` // the bound an RC_ITEM_OVERFLOW refusal applied
	ID        string        `json:"id"`
	Delivered int           `json:"delivered"` // new mails, duplicates of an earlier send excluded
	Already   int           `json:"already"`   // recipients that had this mail from an earlier send
	Failed    []MailFailure `json:"failed,omitempty"`
}

// SendMail asks a game worker to deliver an operator mail and waits for the
// result (bounded by ctx). A result whose Code is not RC_OK is returned with
// an error saying why.
func SendMail(ctx context.Context, nc *nats.Conn, adminToken string, req MailRequest) (*MailResult, error) {
	if req.ID == "" {
		req.ID = nuid.Next()
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	m := nats.NewMsg(bus.AdminSubject(AdminMail))
	m.Data = body
	m.Header.Set(HdrAdminToken, adminToken)
	resp, err := nc.RequestMsgWithContext(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("game: admin mail: %w", err)
	}
	var res MailResult
	if err := json.Unmarshal(resp.Data, &res); err != nil {
		return nil, fmt.Errorf("game: admin mail: bad answer: %w", err)
	}
	if res.Code != int32(def.ResCode_RC_OK) {
		return &res, fmt.Errorf("admin mail refused: %s (%d): %s", def.ResCode(res.Code), res.Code, res.Error)
	}
	return &res, nil
}

// errMailOverBound refuses attachments over the operator bound.
type errMailOverBound struct{ msg string }

func (e errMailOverBound) Error() string { return e.msg }

// validate checks a mail request against the limits, the item table and
// the bound on attachment amounts (maxAmount per item kind, summed).
func (req *MailRequest) validate(d *Data, maxAmount int64) error {
	switch {
	case req.ID == "" || len(req.ID) > 64:
		return errors.New("id must be 1-64 characters")
	case req.All == (len(req.To) > 0):
		return errors.New("give recipients (to) or all, not both or neither")
	case req.Title == "" && req.Content == "":
		return errors.New("a mail needs a title or content")
	case utf8.RuneCountInString(req.Title) > MaxMailTitleRunes || !printable(req.Title):
		return fmt.Errorf("title must be printable and at most %d characters", MaxMailTitleRunes)
	case utf8.RuneCountInString(req.Content) > MaxMailContentRunes || !utf8.ValidString(req.Content):
		return fmt.Errorf("content must be UTF-8 and at most %d characters", MaxMailContentRunes)
	case len(req.Items) > MaxMailItems:
		return fmt.Errorf("at most %d attachments", MaxMailItems)
	}
	for _, id := range req.To {
		if id <= 0 {
			return fmt.Errorf("bad recipient %d", id)
		}
	}
	for _, a := range req.Items {
		if _, ok := d.Items[a.Idx]; !ok {
			return fmt.Errorf("item %d is not in the item table", a.Idx)
		}
		if a.Num <= 0 {
			return fmt.Errorf("item %d: num must be > 0", a.Idx)
		}
	}
	sum := map[int32]int64{}
	for _, a := range req.Items {
		if a.Num > maxAmount-sum[a.Idx] {
			return errMailOverBound{fmt.Sprintf("item %d (%s): %s is over the operator mail bound %d per item kind (the game's --game-mail-max-amount)",
				a.Idx, d.Items[a.Idx].Name, amountOf(req.Items, a.Idx), maxAmount)}
		}
		sum[a.Idx] += a.Num
	}
	return nil
}

// amountOf writes the amount of idx asked for, summed (without overflowing).
func amountOf(as []Amount, idx int32) string {
	var n big.Int
	for _, a := range as {
		if a.Idx == idx {
			n.Add(&n, big.NewInt(a.Num))
		}
	}
	return n.String()
}

// adminMail serves admin.mail.
func (w *Worker) adminMail(m *nats.Msg) {
	res := w.deliverMail(m)
	b, _ := json.Marshal(res)
	if m.Reply != "" {
		if err := w.deps.NC.Publish(m.Reply, b); err != nil {
			w.log.Warn("game: admin mail answer", "err", err)
		}
	}
}

func (w *Worker) deliverMail(m *nats.Msg) *MailResult {
	tok := m.Header.Get(HdrAdminToken)
	if w.cfg.AdminToken == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(w.cfg.AdminToken)) != 1 {
		w.log.Warn("game: admin mail with a bad token refused")
		return &MailResult{Code: int32(def.ResCode_RC_FORBIDDEN), CodeName: def.ResCode_RC_FORBIDDEN.String(), Error: "bad admin token"}
	}
	var req MailRequest
	if err := json.Unmarshal(m.Data, &req); err != nil {
		return &MailResult{Code: int32(def.ResCode_RC_BAD_REQUEST), CodeName: def.ResCode_RC_BAD_REQUEST.String(), Error: err.Error()}
	}
	if err := req.validate(w.data, w.cfg.MailMaxAmount); err != nil {
		rc := def.ResCode_RC_BAD_REQUEST
		var over errMailOverBound
		res := &MailResult{Error: err.Error(), ID: req.ID}
		if errors.As(err, &over) {
			rc, res.MaxAmount = def.ResCode_RC_ITEM_OVERFLOW, w.cfg.MailMaxAmount
		}
		res.Code, res.CodeName = int32(rc), rc.String()
		w.log.Warn("game: admin mail refused", "id", req.ID, "code", rc.String(), "err", err)
		return res
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminMailTimeout)
	defer cancel()
	to := req.To
	if req.All {
		var err error
		if to, err = w.allPlayers(ctx); err != nil {
			return &MailResult{Code: int32(def.ResCode_RC_SERVER_INTERNAL_ERROR), Error: err.Error(), ID: req.ID}
		}
	}
	slices.Sort(to)
	to = slices.Compact(to)
	res := &MailResult{Code: int32(def.ResCode_RC_OK), ID: req.ID}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, uid := range to {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			rc, dup, err := w.mailOne(ctx, &req, uid)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				w.log.Error("game: admin mail", "to", uid, "err", err)
				res.Failed = append(res.Failed, MailFailure{To: uid, Code: int32(def.ResCode_RC_SERVER_INTERNAL_ERROR)})
			case rc != def.ResCode_RC_OK:
				res.Failed = append(res.Failed, MailFailure{To: uid, Code: int32(rc)})
			case dup:
				res.Already++
			default:
				res.Delivered++
			}
		}()
	}
	wg.Wait()
	slices.SortFunc(res.Failed, func(a, b MailFailure) int { return int(a.To - b.To) })
	w.log.Info("game: admin mail", "id", req.ID, "delivered", res.Delivered, "already", res.Already, "failed", len(res.Failed))
	return res
}

// mailOne delivers the mail to one player as a MailReceived event.
func (w *Worker) mailOne(ctx context.Context, req *MailRequest, uid int64) (def.ResCode, bool, error) {
	now := time.Now().Unix()
	rc, out, err := command(ctx, w, events.Cmd{ID: "mail/" + req.ID + "/" + strconv.FormatInt(uid, 10), Corr: req.ID}, ids(uid),
		func(s []*Snap) ([]events.Emit, def.ResCode) {
			return decideMail(w.data, s[0].State, uid, req.Title, req.Content, req.Items, now)
		})
	if err != nil {
		return 0, false, err
	}
	return rc, out.Duplicate, nil
}

// allPlayers lists every player that has events (the evt.player.*
// subjects of every partition's stream): the durable list of players.
func (w *Worker) allPlayers(ctx context.Context) ([]int64, error) {
	var out []int64
	for _, name := range w.store.Streams() {
		s, err := w.deps.JS.Stream(ctx, name)
		if err != nil {
			return nil, err
		}
		info, err := s.Info(ctx, jetstream.WithSubjectFilter(bus.PlayerEventsWildcard))
		if err != nil {
			return nil, fmt.Errorf("game: list players: %w", err)
		}
		for subj := range info.State.Subjects {
			if _, id, err := bus.ParseEventSubject(subj); err == nil {
				out = append(out, id)
			}
		}
	}
	return out, nil
}

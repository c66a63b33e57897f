package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/proto/def"
)

// benchPlayer is one signed-up player of a game scenario.
type benchPlayer struct {
	opt   Options
	token string
	addr  string
	id    int64 // player id; set at sign-up
	// played is set once the player has logged in (mixed scenario).
	played atomic.Bool

	mu sync.Mutex
	s  *client.Session

	// bc is the connection the ops drive (by one goroutine at a time). It
	// replaces s for the run: a second login of the player would end s.
	bc benchConn
}

// session returns a live session, reconnecting (and logging in again) if
// the last one ended.
func (p *benchPlayer) session(ctx context.Context) (*client.Session, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.s != nil && p.s.Err() == nil {
		return p.s, nil
	}
	if p.s != nil {
		p.s.Close()
		p.s = nil
	}
	s, err := client.Dial(ctx, p.addr)
	if err != nil {
		return nil, err
	}
	if _, err := s.Login(ctx, p.token); err != nil {
		s.Close()
		return nil, err
	}
	p.s = s
	return s, nil
}

// close ends the player's session.
func (p *benchPlayer) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.s != nil {
		p.s.Close()
	}
	p.bc.close()
}

// benchConnect moves each player from its session to its bench connection
// (16 at a time): the session is closed first, as a second login would end
// it. The session is dialled again when needed after the run.
func benchConnect(ctx context.Context, opt Options, players []*benchPlayer) error {
	return sixteenAtATime(len(players), func(i int) error {
		p := players[i]
		p.mu.Lock()
		if p.s != nil {
			p.s.Close()
			p.s = nil
		}
		p.mu.Unlock()
		if err := p.bc.connect(ctx, p, opt.Timeout); err != nil {
			return fmt.Errorf("bench: player %d: %w", p.id, err)
		}
		return nil
	})
}

// signUp creates one guest player and logs it in (the mixed scenario's
// players log in later, during the run).
func signUp(ctx context.Context, uc *client.UC, opt Options, device string) (*benchPlayer, error) {
	for {
		res, err := uc.Guest(ctx, device)
		var e *client.Error
		if errors.As(err, &e) && e.Code == def.ResCode_RC_RATE_LIMITED {
			wait := max(e.RetryAfter, 100*time.Millisecond)
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if err != nil {
			return nil, fmt.Errorf("bench: sign up %s: %w", device, err)
		}
		p := &benchPlayer{opt: opt, token: res.GetToken(), addr: res.GetAddr()}
		if opt.Transport == TransportWS {
			p.addr = res.GetWsUrl()
		}
		if opt.Gate != "" {
			p.addr = opt.Gate
		}
		if p.addr == "" {
			return nil, errors.New("bench: uc answered no ws_url: the gate serves no WebSocket (start it with --gate-ws-listen)")
		}
		if opt.Scenario == ScenarioMixed {
			// Its logins are part of the run (the ramp): uc's answer
			// has the id (user id = account id).
			if p.id = res.GetAccountId(); p.id == 0 {
				return nil, fmt.Errorf("bench: sign up %s: no account id in uc's answer", device)
			}
			return p, nil
		}
		lctx, cancel := context.WithTimeout(ctx, opt.Timeout)
		defer cancel()
		s, err := p.session(lctx)
		if err != nil {
			return nil, fmt.Errorf("bench: log in %s at %s: %w", device, p.addr, err)
		}
		p.id = s.User().GetId() // set once, before the ops run; never changes
		return p, nil
	}
}

// Package bus is Hive's NATS layer: the connection every process uses, the
// embedded server of `hive dev` and the tests, the subject scheme (subject.go),
// the event headers (header.go; the gate envelope's are package envelope's)
// and the JetStream stream and buckets (stream.go).
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// DefaultReconnectBuf bounds what a client buffers while NATS is unreachable;
// past it publishes fail fast instead of growing memory.
const DefaultReconnectBuf = 8 << 20

// Reconnect pacing: a restarted server is found within a few hundred
// milliseconds of its return, and a fleet of clients does not knock in step.
const (
	reconnectWait   = 100 * time.Millisecond
	reconnectJitter = 100 * time.Millisecond
)

// DefaultPingInterval is how often a client pings its server. After
// maxPingsOut unanswered pings the connection counts as stale and the
// client moves to another URL: a frozen or cut-off server (whose TCP
// connections stay open) is left within 2 to 3 intervals, not the minutes
// of nats.go's default (2 min). Set per process with nats.PingInterval.
const DefaultPingInterval = time.Second

const maxPingsOut = 2

// ErrConnectionLost is the cause of a Link context that ended because the
// connection to the server dropped.
var ErrConnectionLost = errors.New("bus: connection to nats lost")

// Connect dials NATS (comma-separated URLs) and reconnects forever: a process
// survives a NATS restart and carries on. name identifies the client in NATS
// monitoring (e.g. "gate-g1").
func Connect(urls, name string, opts ...nats.Option) (*nats.Conn, error) {
	l := newLink()
	base := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.ReconnectJitter(reconnectJitter, time.Second),
		nats.ReconnectBufSize(DefaultReconnectBuf),
		nats.RetryOnFailedConnect(true),
		nats.PingInterval(DefaultPingInterval),
		nats.MaxPingsOutstanding(maxPingsOut),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			l.drop()
			if err != nil {
				slog.Warn("nats disconnected", "client", name, "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			slog.Info("nats reconnected", "client", name, "url", nc.ConnectedUrlRedacted())
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			l.drop()
			links.Delete(nc)
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			slog.Error("nats async error", "client", name, "subject", subj, "err", err)
		}),
	}
	nc, err := nats.Connect(urls, append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("bus: connect %s: %w", urls, err)
	}
	if !nc.IsClosed() {
		links.Store(nc, l)
	}
	return nc, nil
}

// links holds the link of every open connection made by Connect.
var links sync.Map // *nats.Conn -> *link

// Link returns a context that ends, with cause ErrConnectionLost, when nc's
// connection to the server drops. A request sent before a drop never gets
// its reply (the server that would answer is gone), so a call bounded by
// this context fails at once instead of waiting out its deadline, and can
// be made again: a call made after the drop (with the next Link) is
// buffered and sent once the connection is back. For a connection not made
// by Connect, or closed, it is a context that never ends.
func Link(nc *nats.Conn) context.Context {
	if v, ok := links.Load(nc); ok {
		return v.(*link).current()
	}
	return context.Background()
}

// link is one connection's series of contexts, one per stretch between
// drops.
type link struct {
	mu     sync.Mutex
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func newLink() *link {
	l := &link{}
	l.ctx, l.cancel = context.WithCancelCause(context.Background())
	return l
}

func (l *link) current() context.Context {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ctx
}

// drop ends the current context and starts the next.
func (l *link) drop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cancel(ErrConnectionLost)
	l.ctx, l.cancel = context.WithCancelCause(context.Background())
}

// Package bus is Hive's NATS layer: the connection every process uses, the
// embedded server of `hive dev` and the tests, the subject scheme (subject.go),
// the event headers (header.go; the gate envelope's are package envelope's)
// and the JetStream stream and buckets (stream.go).
package bus

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// DefaultReconnectBuf bounds what a client buffers while NATS is unreachable;
// past it publishes fail fast instead of growing memory.
const DefaultReconnectBuf = 8 << 20

// Connect dials NATS (comma-separated URLs) and reconnects forever: a process
// survives a NATS restart and carries on. name identifies the client in NATS
// monitoring (e.g. "gate-g1").
func Connect(urls, name string, opts ...nats.Option) (*nats.Conn, error) {
	base := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		nats.ReconnectBufSize(DefaultReconnectBuf),
		nats.RetryOnFailedConnect(true),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				slog.Warn("nats disconnected", "client", name, "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			slog.Info("nats reconnected", "client", name, "url", nc.ConnectedUrlRedacted())
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
	return nc, nil
}

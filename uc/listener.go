package uc

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// connTracker wraps the listener so Shutdown can close connections that
// fasthttp's graceful shutdown never reaches: ones accepted but still
// waiting for their first request (HTTP clients open spare connections)
// are not "idle" to fasthttp and would hold Shutdown for ReadTimeout.
type connTracker struct {
	net.Listener
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

func newConnTracker(ln net.Listener) *connTracker {
	return &connTracker{Listener: ln, conns: map[*trackedConn]struct{}{}}
}

// Accept implements net.Listener.
func (t *connTracker) Accept() (net.Conn, error) {
	c, err := t.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, t: t, accepted: time.Now()}
	t.mu.Lock()
	t.conns[tc] = struct{}{}
	t.mu.Unlock()
	return tc, nil
}

// closeAll closes every connection still open.
func (t *connTracker) closeAll() { t.closeIf(func(*trackedConn) bool { return true }) }

// closeUnused closes connections that have not sent a byte in age since
// they were accepted.
func (t *connTracker) closeUnused(age time.Duration) {
	t.closeIf(func(c *trackedConn) bool { return !c.used.Load() && time.Since(c.accepted) > age })
}

func (t *connTracker) closeIf(pred func(*trackedConn) bool) {
	t.mu.Lock()
	var conns []*trackedConn
	for c := range t.conns {
		if pred(c) {
			conns = append(conns, c)
		}
	}
	t.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

type trackedConn struct {
	net.Conn
	t        *connTracker
	accepted time.Time
	used     atomic.Bool // a byte was read
	once     sync.Once
}

// Read implements net.Conn.
func (c *trackedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && !c.used.Load() {
		c.used.Store(true)
	}
	return n, err
}

// Close implements net.Conn.
func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.t.mu.Lock()
		delete(c.t.conns, c)
		c.t.mu.Unlock()
	})
	return c.Conn.Close()
}

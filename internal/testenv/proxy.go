package testenv

import (
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP relay to one address that a test can freeze: while frozen
// no byte passes in either direction and every connection stays open, as
// when the server behind it is paused (SIGSTOP) or the network stalls. An
// embedded server cannot be paused; its clients can be put behind a Proxy.
type Proxy struct {
	// Addr is the proxy's own loopback address (host:port): dial this.
	Addr string

	ln     net.Listener
	target string

	mu     sync.Mutex
	thawed chan struct{} // closed while traffic flows
	conns  []net.Conn
	closed bool
}

// StartProxy relays 127.0.0.1:<free port> to target until the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: proxy: %v", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), ln: ln, target: target, thawed: make(chan struct{})}
	close(p.thawed)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

// Freeze stops all traffic, on open connections and new ones, until Thaw.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
		p.thawed = make(chan struct{})
	default: // already frozen
	}
}

// Thaw lets the traffic held by Freeze through.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
	default:
		close(p.thawed)
	}
}

// gate is closed while the proxy is not frozen.
func (p *Proxy) gate() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.thawed
}

func (p *Proxy) accept() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			in.Close()
			out.Close()
			return
		}
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

// pipe copies src to dst, holding each chunk while the proxy is frozen.
func (p *Proxy) pipe(src, dst net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			<-p.gate()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// close stops accepting, ends every relayed connection and releases any
// chunk held by a freeze.
func (p *Proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	p.closed = true
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	p.Thaw()
}

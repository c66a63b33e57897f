package wscompare

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	coder "github.com/coder/websocket"
	"github.com/gorilla/websocket"
)

// idleConns is how many connections the idle-memory benchmark opens.
const idleConns = 1000

// server is one library's WebSocket server as the gate would run it: the
// handler upgrades and returns, and a goroutine per connection reads
// messages and echoes them (a 64-byte read buffer, like the gate's frame
// reader holds inline).
type server struct {
	name    string
	handler http.HandlerFunc
}

var gorillaPool sync.Pool

var servers = []server{
	{"tcp", nil}, // baseline: a plain TCP echo, no WebSocket
	{"gorilla", func(w http.ResponseWriter, r *http.Request) {
		u := websocket.Upgrader{ReadBufferSize: 512, WriteBufferSize: 4096, WriteBufferPool: &gorillaPool}
		c, err := u.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			var buf [64]byte
			for {
				typ, rd, err := c.NextReader()
				if err != nil {
					return
				}
				n, err := io.ReadFull(rd, buf[:])
				if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
					return
				}
				if c.WriteMessage(typ, buf[:n]) != nil {
					return
				}
			}
		}()
	}},
	{"coder", func(w http.ResponseWriter, r *http.Request) {
		c, err := coder.Accept(w, r, &coder.AcceptOptions{CompressionMode: coder.CompressionDisabled})
		if err != nil {
			return
		}
		go func() {
			defer c.CloseNow()
			ctx := context.Background()
			var buf [64]byte
			for {
				typ, rd, err := c.Reader(ctx)
				if err != nil {
					return
				}
				n, err := io.ReadFull(rd, buf[:])
				if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
					return
				}
				if c.Write(ctx, typ, buf[:n]) != nil {
					return
				}
			}
		}()
	}},
}

// start serves s on a loopback port and returns its address.
func start(tb testing.TB, s server) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	if s.handler == nil {
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					out := [66]byte{0x82, 64} // the answer as a WebSocket header would frame it
					for {
						if _, err := io.ReadFull(c, out[2:]); err != nil {
							return
						}
						if _, err := c.Write(out[:]); err != nil {
							return
						}
					}
				}()
			}
		}()
		return ln.Addr().String()
	}
	srv := &http.Server{Handler: s.handler}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// rawClient is a hand-written WebSocket client that allocates nothing per
// message, so the benchmarks count the server library's work alone.
type rawClient struct {
	c   net.Conn
	msg []byte // one masked 64-byte binary message (or the bare payload for tcp)
	in  [66]byte
}

const handshake = "GET / HTTP/1.1\r\nHost: wscompare\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

func dial(tb testing.TB, addr string, ws bool) *rawClient {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	rc := &rawClient{c: c}
	payload := make([]byte, 64)
	if !ws {
		rc.msg = payload
		return rc
	}
	if _, err := io.WriteString(c, handshake); err != nil {
		tb.Fatal(err)
	}
	br := bufio.NewReaderSize(c, 256)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			tb.Fatal(err)
		}
		if strings.HasPrefix(line, "HTTP/1.1 ") && !strings.HasPrefix(line, "HTTP/1.1 101") {
			tb.Fatalf("handshake: %s", line)
		}
		if line == "\r\n" {
			break
		}
	}
	if br.Buffered() > 0 {
		tb.Fatal("data after the handshake")
	}
	key := [4]byte{1, 2, 3, 4}
	rc.msg = append([]byte{0x82, 0x80 | 64}, key[:]...)
	for i, b := range payload {
		rc.msg = append(rc.msg, b^key[i%4])
	}
	return rc
}

// echo sends the message and reads the 66-byte answer (header and payload).
func (rc *rawClient) echo() error {
	if _, err := rc.c.Write(rc.msg); err != nil {
		return err
	}
	_, err := io.ReadFull(rc.c, rc.in[:])
	return err
}

// settled is heap in use plus stacks after the garbage is collected.
func settled() uint64 {
	for range 3 {
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
	}
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

// BenchmarkIdleConn opens idleConns connections, each echoed once (so the
// server side has read and written), and reports the memory they hold
// while idle per connection: the server's reader goroutine, its buffers and
// the library's connection, plus the raw client's few hundred bytes, which
// the tcp baseline shows.
func BenchmarkIdleConn(b *testing.B) {
	for _, s := range servers {
		b.Run(s.name, func(b *testing.B) {
			addr := start(b, s)
			var perConn float64
			for range b.N {
				before := settled()
				conns := make([]*rawClient, idleConns)
				for i := range conns {
					conns[i] = dial(b, addr, s.handler != nil)
					if err := conns[i].echo(); err != nil {
						b.Fatal(err)
					}
				}
				after := settled()
				perConn += (float64(after) - float64(before)) / idleConns
				for _, c := range conns {
					c.c.Close()
				}
				runtime.KeepAlive(conns)
			}
			b.ReportMetric(perConn/float64(b.N), "B/idle-conn")
		})
	}
}

// BenchmarkEcho is one 64-byte binary message to the server and back.
// allocs/op and B/op count the whole process, but the raw client allocates
// nothing, so they are the server's.
func BenchmarkEcho(b *testing.B) {
	for _, s := range servers {
		b.Run(s.name, func(b *testing.B) {
			rc := dial(b, start(b, s), s.handler != nil)
			defer rc.c.Close()
			if err := rc.echo(); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := rc.echo(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

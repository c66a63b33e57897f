package gate

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/qeetap/hive/proto/frame"
)

// WebSocket close codes the gate sends (docs/PROTOCOL.md, WebSocket).
const (
	wsNormal      = websocket.CloseNormalClosure           // 1000: after a kick frame
	wsGoingAway   = websocket.CloseGoingAway               // 1001: drain
	wsUnsupported = websocket.CloseUnsupportedData         // 1003: a text message
	wsBadData     = websocket.CloseInvalidFramePayloadData // 1007: not one whole valid frame
	wsTooBig      = websocket.CloseMessageTooBig           // 1009: over --gate-max-frame
	wsTryLater    = websocket.CloseTryAgainLater           // 1013: gate full, or the address holds too many
)

// closeFrameWait bounds the wait to send a close frame: the socket of a
// session being closed may be full, and the close must not hang on it.
const closeFrameWait = 200 * time.Millisecond

// errWSFraming is what a binary message that is not exactly one frame, or
// a text message, reads as: a protocol violation like a malformed frame.
var errWSFraming = errors.New("websocket message is not one frame")

// wsCloseCodes maps a session's close reason to the close code sent after
// its last frame. Reasons absent here send none: the client closed, or the
// socket cannot take more (slow reader, write error).
var wsCloseCodes = map[string]int{
	closeMalformed: wsBadData, closeIdle: wsNormal, closeLoginTimeout: wsNormal,
	closeKicked: wsNormal, closeDrain: wsGoingAway,
}

// wsConn makes a WebSocket connection look like the TCP stream the session
// reads frames from and writes frames to: Read yields the bytes of binary
// messages, each of which must hold exactly one whole frame, and Write
// sends each frame of a batch as one binary message. One goroutine reads
// (the session's reader); one writes at a time (the session's flush).
type wsConn struct {
	ws  *websocket.Conn
	max int // --gate-max-frame

	// Reader goroutine only.
	msg      io.Reader // the message being read; nil between messages
	left     int       // bytes of its frame not yet returned
	hdr      [2]byte   // the frame's size field
	hn       int       // size field bytes returned so far
	timedOut bool      // the library failed on a read deadline

	code   atomic.Int32 // close code to send on close (first set wins); 0: none
	sent   atomic.Bool  // a close frame went out
	closed atomic.Bool
	alive  func() // a ping or pong came in (the session's idle clock)
	ping   *time.Timer
}

func newWSConn(ws *websocket.Conn, maxFrame int, pingEvery time.Duration) *wsConn {
	w := &wsConn{ws: ws, max: maxFrame}
	ws.SetReadLimit(int64(2 + maxFrame)) // the size field and the largest frame
	ws.SetPongHandler(func(string) error { w.peerAlive(); return nil })
	pong := ws.PingHandler()
	ws.SetPingHandler(func(data string) error { w.peerAlive(); return pong(data) })
	w.ping = time.AfterFunc(pingEvery, func() {
		_ = ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(pingEvery))
		if !w.closed.Load() {
			w.ping.Reset(pingEvery)
		}
	})
	return w
}

func (w *wsConn) peerAlive() {
	if w.alive != nil {
		w.alive()
	}
}

// Read returns bytes of the current frame, moving to the next message when
// the frame is done. A message that ends inside its frame or goes on past
// it, a text message and a frame over max end the stream with an error
// wrapping errWSFraming (or frame.ErrFrameTooLarge) and set the close code.
func (w *wsConn) Read(p []byte) (int, error) {
	if w.timedOut {
		return 0, w.discard()
	}
	if w.left == 0 {
		if err := w.nextFrame(); err != nil {
			return 0, w.readErr(err)
		}
	}
	n := 0
	if w.hn < 2 {
		n = copy(p, w.hdr[w.hn:])
		w.hn += n
		w.left -= n
	}
	if n < len(p) && w.hn == 2 && w.left > 0 {
		m, err := w.msg.Read(p[n:min(len(p), n+w.left)])
		n += m
		w.left -= m
		if err == io.EOF && w.left > 0 {
			return n, w.fail(wsBadData, fmt.Errorf("%w: message ends %d bytes inside its frame", errWSFraming, w.left))
		}
		if err != nil && err != io.EOF {
			return n, w.readErr(err)
		}
	}
	return n, nil
}

// nextFrame ends the current message, which must hold nothing past its
// frame, waits for the next one and reads its size field.
func (w *wsConn) nextFrame() error {
	if w.msg != nil {
		var b [1]byte
		if n, err := w.msg.Read(b[:]); n > 0 {
			return w.fail(wsBadData, fmt.Errorf("%w: message goes on past its frame", errWSFraming))
		} else if err != io.EOF {
			return err
		}
		w.msg = nil
	}
	typ, r, err := w.ws.NextReader()
	if err != nil {
		return err
	}
	if typ != websocket.BinaryMessage {
		return w.fail(wsUnsupported, fmt.Errorf("%w: text message", errWSFraming))
	}
	if n, err := io.ReadFull(r, w.hdr[:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return w.fail(wsBadData, fmt.Errorf("%w: %d-byte message", errWSFraming, n))
		}
		return err
	}
	size := int(w.hdr[0]) | int(w.hdr[1])<<8
	if size > w.max {
		return w.fail(wsTooBig, fmt.Errorf("%w: size %d > %d", frame.ErrFrameTooLarge, size, w.max))
	}
	w.msg, w.left, w.hn = r, 2+size, 0
	return nil
}

// readErr turns the library's read errors into what a TCP read would give:
// the peer's close frame is io.EOF, a passed deadline stays a timeout
// (remembered, since the library reads no further after one), a message
// over the read limit is frame.ErrFrameTooLarge (the library sent 1009).
func (w *wsConn) readErr(err error) error {
	var ne net.Error
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		return io.EOF
	case errors.As(err, &ne) && ne.Timeout():
		w.timedOut = true
	case errors.Is(err, websocket.ErrReadLimit):
		w.sent.Store(true)
		return fmt.Errorf("%w: message over the read limit", frame.ErrFrameTooLarge)
	}
	return err
}

// discard stands in for Read once the library failed on a read deadline: it
// drops what the client sends until the read deadline set since passes or
// the connection ends, as the session's lingering read on TCP does.
func (w *wsConn) discard() error {
	var b [128]byte
	for {
		if _, err := w.ws.NetConn().Read(b[:]); err != nil {
			return err
		}
	}
}

// fail records the close code of a protocol violation and returns err.
func (w *wsConn) fail(code int, err error) error {
	w.setCode(code)
	return err
}

// setCode records the close code to send when the connection is closed;
// the first one recorded stands.
func (w *wsConn) setCode(code int) {
	if code != 0 {
		w.code.CompareAndSwap(0, int32(code))
	}
}

// Write sends each frame of b, a batch of whole frames, as one binary
// message.
func (w *wsConn) Write(b []byte) (int, error) {
	n := 0
	for n < len(b) {
		if len(b)-n < 2 {
			return n, io.ErrShortWrite
		}
		end := n + 2 + (int(b[n]) | int(b[n+1])<<8)
		if end > len(b) {
			return n, io.ErrShortWrite
		}
		if err := w.ws.WriteMessage(websocket.BinaryMessage, b[n:end]); err != nil {
			return n, err
		}
		n = end
	}
	return n, nil
}

// CloseWrite sends the close frame after the session's last frame (a
// kick); the session's reader then lingers for the client's close, as
// after shutting the write side of a TCP connection.
func (w *wsConn) CloseWrite() error {
	w.sendClose()
	return nil
}

// Close sends the recorded close code, if any and none went out yet, and
// closes the connection.
func (w *wsConn) Close() error {
	w.closed.Store(true)
	w.ping.Stop()
	w.sendClose()
	return w.ws.Close()
}

func (w *wsConn) sendClose() {
	code := int(w.code.Load())
	if code == 0 || !w.sent.CompareAndSwap(false, true) {
		return
	}
	_ = w.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(closeFrameWait))
}

// LocalAddr is the server side's address.
func (w *wsConn) LocalAddr() net.Addr { return w.ws.LocalAddr() }

// RemoteAddr is the client's address (or its proxy's).
func (w *wsConn) RemoteAddr() net.Addr { return w.ws.RemoteAddr() }

// SetDeadline sets both deadlines.
func (w *wsConn) SetDeadline(t time.Time) error {
	_ = w.SetReadDeadline(t)
	return w.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline of the connection.
func (w *wsConn) SetReadDeadline(t time.Time) error { return w.ws.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline of the following message writes.
func (w *wsConn) SetWriteDeadline(t time.Time) error { return w.ws.SetWriteDeadline(t) }

// endWith records on a WebSocket connection the close code for a session
// ending for reason; TCP has no such word beyond the kick frame.
func endWith(c net.Conn, reason string) {
	if w, ok := c.(*wsConn); ok {
		w.setCode(wsCloseCodes[reason])
	}
}

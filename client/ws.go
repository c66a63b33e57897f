package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// isWSURL reports whether addr is a WebSocket URL (uc's ws_url) rather
// than a host:port.
func isWSURL(addr string) bool {
	return strings.HasPrefix(addr, "ws://") || strings.HasPrefix(addr, "wss://")
}

// DialWS opens a WebSocket to a gate (uc's ws_url) and returns it as a
// connection carrying frames, as a TCP connection to the gate does: each
// Write is sent as one binary message, so write one whole frame per call
// (Session does); Read yields the bytes of the gate's messages in turn. The
// gate's close frame reads as io.EOF. After a read deadline passes the
// connection is unusable: the next read fails with a non-timeout error.
func DialWS(ctx context.Context, url string) (net.Conn, error) {
	d := websocket.Dialer{ReadBufferSize: 1024, WriteBufferSize: 1024}
	ws, res, err := d.DialContext(ctx, url, nil)
	if err != nil {
		if res != nil {
			return nil, fmt.Errorf("hive: dial %s: %w (HTTP %s)", url, err, res.Status)
		}
		return nil, fmt.Errorf("hive: dial %s: %w", url, err)
	}
	return &wsConn{Conn: ws}, nil
}

// errWSBroken: the library reads nothing after a read deadline passed.
var errWSBroken = errors.New("hive: websocket unusable after a read timeout")

// wsConn is the client side of a gate WebSocket as a net.Conn.
type wsConn struct {
	*websocket.Conn
	r      io.Reader // the message being read
	broken bool      // a read deadline passed
}

func (c *wsConn) Read(p []byte) (int, error) {
	if c.broken {
		return 0, errWSBroken
	}
	for {
		if c.r == nil {
			_, r, err := c.NextReader()
			if err != nil {
				return 0, c.readErr(err)
			}
			c.r = r
		}
		n, err := c.r.Read(p)
		if err == io.EOF {
			c.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		if err != nil {
			err = c.readErr(err)
		}
		return n, err
	}
}

// readErr maps the library's read errors: the gate's close frame is io.EOF;
// a timeout is returned once, later reads fail with errWSBroken.
func (c *wsConn) readErr(err error) error {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return io.EOF
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.broken = true
	}
	return err
}

func (c *wsConn) Write(b []byte) (int, error) {
	if err := c.WriteMessage(websocket.BinaryMessage, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (c *wsConn) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

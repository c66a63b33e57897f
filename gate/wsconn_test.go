package gate

import (
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/qeetap/hive/proto/frame"
)

// wsClient is the client side of a gate WebSocket as a net.Conn: each
// Write is one binary message, Read yields the bytes of the messages in
// turn, and the gate's close frame reads as io.EOF with its code kept.
type wsClient struct {
	*websocket.Conn
	r         io.Reader
	closeCode int // the gate's close code once read; 0 before
	sawText   bool
}

func (c *wsClient) Read(p []byte) (int, error) {
	for {
		if c.r == nil {
			typ, r, err := c.NextReader()
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.closeCode = ce.Code
				return 0, io.EOF
			}
			if err != nil {
				return 0, err
			}
			c.sawText = c.sawText || typ == websocket.TextMessage
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
		return n, err
	}
}

func (c *wsClient) Write(b []byte) (int, error) {
	if err := c.WriteMessage(websocket.BinaryMessage, b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (c *wsClient) SetDeadline(t time.Time) error {
	_ = c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

// dialWSURL opens a WebSocket to url with header (nil: none); the HTTP
// answer is returned when the handshake fails.
func dialWSURL(url string, header http.Header) (*wsClient, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, res, err := d.Dial(url, header)
	if err != nil {
		return nil, res, err
	}
	return &wsClient{Conn: ws}, res, nil
}

// dialWS is dial over the gate's WebSocket.
func (e *env) dialWS(g *Server) *client {
	e.t.Helper()
	ws, _, err := dialWSURL(g.WSURL(), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { ws.Close() })
	return &client{t: e.t, c: ws, r: frame.NewReader(ws, frame.MaxSize)}
}

var _ net.Conn = (*wsClient)(nil)
var _ net.Conn = (*wsConn)(nil)

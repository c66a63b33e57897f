package gate

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/gorilla/websocket"
)

// wsReadBuffer is the read buffer every WebSocket connection holds for its
// life (the library has no pooled reads): small, since a request is tens
// of bytes and a larger message is read past the buffer.
const wsReadBuffer = 512

// wsWriteBuffer is the size of the pooled buffers messages are written
// through: an idle connection holds none.
const wsWriteBuffer = 4 << 10

var wsWritePool sync.Pool

// startWS serves WebSocket clients on --gate-ws-listen, if set. An
// upgraded connection becomes a session like an accepted TCP one.
func (s *Server) startWS() error {
	if s.cfg.WSListen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.WSListen)
	if err != nil {
		return fmt.Errorf("gate: ws listen: %w", err)
	}
	s.wsLn = ln
	s.upgrader = &websocket.Upgrader{
		HandshakeTimeout: s.cfg.WriteTimeout,
		ReadBufferSize:   wsReadBuffer,
		WriteBufferSize:  wsWriteBuffer,
		WriteBufferPool:  &wsWritePool,
		CheckOrigin:      s.originAllowed,
	}
	s.wsSrv = &http.Server{
		Handler:           http.HandlerFunc(s.serveWS),
		ReadHeaderTimeout: s.cfg.LoginTimeout,
		IdleTimeout:       s.cfg.LoginTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	go func() {
		if err := s.wsSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("websocket listener failed", "err", err)
		}
	}()
	return nil
}

// WSAddr is the actual WebSocket listen address; empty without one or
// before Start.
func (s *Server) WSAddr() string {
	if s.wsLn == nil {
		return ""
	}
	return s.wsLn.Addr().String()
}

// closeWS stops taking WebSocket upgrades; upgraded sessions go on.
func (s *Server) closeWS() {
	if s.wsSrv != nil {
		_ = s.wsSrv.Close()
	}
}

// serveWS upgrades a request on / or /ws and admits the connection. The
// upgrader answers a bad handshake itself (403 for a refused origin).
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" && r.URL.Path != "/ws" {
		http.NotFound(w, r)
		return
	}
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug("websocket upgrade refused", "remote", r.RemoteAddr, "err", err)
		return
	}
	s.admit(newWSConn(ws, s.cfg.MaxFrame, s.cfg.IdleTimeout/2))
}

// originAllowed is the upgrader's origin check: a request without Origin
// (not a browser) passes; else the Origin must be listed in
// --gate-ws-origins ("*" passes all) or, with none listed, name the host the
// request was sent to.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if len(s.cfg.WSOrigins) == 0 {
		u, err := url.Parse(origin)
		return err == nil && strings.EqualFold(u.Host, r.Host)
	}
	for _, o := range s.cfg.WSOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

package uc

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestShutdownWithSpareConnection: a connection that never sends a request
// (HTTP clients open spares) must not hold Shutdown until ReadTimeout.
func TestShutdownWithSpareConnection(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.ReadTimeout = time.Minute; c.IdleTimeout = time.Minute })
	c, err := net.Dial("tcp", e.srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	e.guest("before-shutdown") // and one used keep-alive connection
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown with a spare connection open: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("spare connection still open after Shutdown")
	}
}

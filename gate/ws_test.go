package gate

import (
	"testing"
)

func TestWSLoginEcho(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	g := e.startGate(func(c *Config) { c.WSListen = "127.0.0.1:0" })
	c := e.dialWS(g)
	c.echo(5) // before login: the gate answers
	c.login(e.token(7), 7)
	c.echo(6)
	c.echo(7)
}

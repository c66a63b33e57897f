package gate

import (
	"net"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
)

// BenchmarkLogin is one login per op on a fresh connection: connect,
// msg.Login.Req, the game's Login.Res relayed, close. It includes the token
// check, the user subscription and the token version read.
func BenchmarkLogin(b *testing.B) {
	w := newBenchWorld(b)
	tok, _, err := w.signer.Sign(1, 0)
	if err != nil {
		b.Fatal(err)
	}
	req, _ := frame.AppendMessage(nil, &msg.Login_Req{Token: proto.String(tok)})
	b.ResetTimer()
	for b.Loop() {
		c, err := net.DialTimeout("tcp", w.gate.Addr(), 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		r := frame.NewReader(c, frame.MaxSize)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		api, payload, err := r.Next()
		if err != nil {
			b.Fatal(err)
		}
		m, err := frame.Decode(api, payload)
		if res, ok := m.(*msg.Login_Res); err != nil || !ok || res.GetCode() != 0 {
			b.Fatalf("login: %v %v", m, err)
		}
		c.Close()
	}
}

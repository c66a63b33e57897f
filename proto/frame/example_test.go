package frame_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
)

// ExampleReader reads the frames of a connection and decodes them, sorting
// the errors the way the gate does.
func ExampleReader() {
	var conn bytes.Buffer // stands in for a net.Conn
	b, _ := frame.AppendMessage(nil, &msg.Echo_Req{Val: proto.Int64(42)})
	b, _ = frame.AppendFrame(b, "msg.NoSuch.Req", nil)
	b, _ = frame.AppendFrame(b, "msg.GiftItems.Req", []byte{0x08, 0x92, 0x4e}) // no item_idx, item_num
	conn.Write(b)

	r := frame.NewReader(&conn, 4096)
	for {
		api, payload, err := r.Next()
		if err == io.EOF {
			fmt.Println("connection closed by peer")
			return
		}
		if err != nil {
			fmt.Println("protocol violation, close:", err)
			return
		}
		m, err := frame.Decode(api, payload)
		switch {
		case errors.Is(err, frame.ErrUnknownAPI):
			fmt.Printf("%s: answer msg.Error.Res{code: RC_API_UNKNOWN}\n", api)
		case errors.Is(err, frame.ErrMissingRequired):
			fmt.Printf("%s: answer %s{code: RC_BAD_REQUEST}\n", api, frame.ResponseAPI(string(api)))
		case err != nil:
			fmt.Println("protocol violation, close:", err)
			return
		default:
			fmt.Printf("%s: val=%d\n", api, m.(*msg.Echo_Req).GetVal())
		}
	}
	// Output:
	// msg.Echo.Req: val=42
	// msg.NoSuch.Req: answer msg.Error.Res{code: RC_API_UNKNOWN}
	// msg.GiftItems.Req: answer msg.GiftItems.Res{code: RC_BAD_REQUEST}
	// connection closed by peer
}

// ExampleWriter batches two frames and sends them with one Write.
func ExampleWriter() {
	var conn bytes.Buffer // stands in for a net.Conn
	w := frame.NewWriter(&conn)
	_ = w.WriteMessage(&msg.SetEvent_Res{Code: proto.Int32(0)})
	_ = w.WriteFrame("msg.Echo.Res", nil)
	fmt.Println("pending:", w.Buffered(), "sent:", conn.Len())
	if err := w.Flush(); err != nil {
		fmt.Println(err)
	}
	fmt.Println("pending:", w.Buffered(), "sent:", conn.Len())
	fmt.Printf("% x\n", conn.Bytes()[:22])
	// Output:
	// pending: 38 sent: 0
	// pending: 0 sent: 38
	// 14 00 10 00 6d 73 67 2e 53 65 74 45 76 65 6e 74 2e 52 65 73 10 00
}

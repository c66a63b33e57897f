package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
)

// These examples need a running Hive (`hive dev`), so they are compiled but
// not run by go test.

// Example is the whole client flow: register at uc, connect to the gate it
// names, log in, print pushes, and make a few calls.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	uc := &client.UC{BaseURL: "http://127.0.0.1:8082"}
	auth, err := uc.Register(ctx, "alice", "correct horse battery")
	if errors.Is(err, &client.Error{Code: def.ResCode_RC_ACCOUNT_CREATE_DUPLICATE}) {
		auth, err = uc.Auth(ctx, "alice", "correct horse battery")
	}
	if err != nil {
		log.Fatal(err)
	}

	s, err := client.Dial(ctx, auth.GetAddr(),
		client.WithHeartbeat(20*time.Second),
		client.WithPushHandler(func(api string, m proto.Message) {
			fmt.Println("push:", api, m)
		}))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	me, err := s.Login(ctx, auth.GetToken())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("logged in as player", me.GetId())

	items, err := s.GetItems(ctx, 0)
	if err != nil {
		log.Fatal(err)
	}
	for _, it := range items {
		fmt.Println("item", it.GetIdx(), "x", it.GetNum())
	}
}

// ExampleSession_GiftItems shows how a refusal carries its result code.
func ExampleSession_GiftItems() {
	ctx := context.Background()
	var s *client.Session // from client.Dial and Login
	err := s.GiftItems(ctx, 10002, int32(def.ItemType_ITEM_GOLD), 10)
	var e *client.Error
	switch {
	case err == nil:
		fmt.Println("sent")
	case errors.As(err, &e) && e.Code == def.ResCode_RC_ITEM_NOT_ENOUGH:
		fmt.Println("not enough gold")
	case errors.Is(err, client.ErrClosed):
		fmt.Println("session ended:", err) // kicked, gate draining, connection lost
	default:
		fmt.Println("failed:", err)
	}
}

// ExampleCall sends any request and gets its typed answer.
func ExampleCall() {
	ctx := context.Background()
	var s *client.Session // from client.Dial and Login
	res, err := client.Call[*msg.GetRank_Res](ctx, s, &msg.GetRank_Req{Type: proto.Int32(100)})
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range res.GetRank().GetItems() {
		fmt.Println(r.GetRank(), r.GetUser().GetName(), r.GetVal())
	}
}

// ExampleUC_Guest logs in by device and later binds a username to the guest.
func ExampleUC_Guest() {
	ctx := context.Background()
	uc := &client.UC{BaseURL: "http://127.0.0.1:8082"}
	auth, err := uc.Guest(ctx, "Xk2mP9qR7vT4wY8zB3nC6dF1") // 128+ random bits, kept on the device
	if err != nil {
		log.Fatal(err)
	}
	if err := uc.BindAccount(ctx, auth.GetToken(), auth.GetAccountId(), "bob", "a long passphrase"); err != nil {
		log.Fatal(err)
	}
}

package uc_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/qeetap/hive/bus"
	"github.com/qeetap/hive/cache"
	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/registry"
	"github.com/qeetap/hive/token"
	"github.com/qeetap/hive/uc"
)

// Example runs uc against an embedded NATS and makes the seed's calls, the
// equivalent of
//
//	curl -X POST -d "username=lisp&password=correct-horse" http://127.0.0.1:8082/v1/account/registry
//	curl -X POST -d "username=lisp&password=correct-horse" http://127.0.0.1:8082/v1/account/auth
func Example() {
	dir, _ := os.MkdirTemp("", "uc-example")
	defer os.RemoveAll(dir)
	nsrv, err := bus.StartEmbedded(bus.EmbeddedConfig{StoreDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nsrv.Shutdown()
	nc, _ := nsrv.Connect("uc")
	defer nc.Close()
	js, _ := jetstreamNew(nc)
	if err := bus.EnsureStore(context.Background(), js, bus.StoreConfig{}); err != nil {
		fmt.Println(err)
		return
	}
	reg := registry.NewMemory()
	reg.Register(context.Background(), registry.Gate{ID: "g1", Addr: "127.0.0.1:9000"})
	_, key, _ := ed25519.GenerateKey(rand.Reader)

	cfg := uc.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.SMSLogCodes = true // no SMS gateway here: codes would go to the log
	srv, err := uc.New(cfg, uc.Deps{
		NC: nc, JS: js, Registry: reg, Cache: cache.NewMemory(),
		Signer: token.NewSigner(key, cfg.TokenIssuer, cfg.TokenTTL),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := srv.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()

	for _, path := range []string{client.PathRegister, client.PathAuth} {
		resp, err := http.PostForm("http://"+srv.Addr()+path, url.Values{"username": {"lisp"}, "password": {"correct-horse"}})
		if err != nil {
			fmt.Println(err)
			return
		}
		var res struct {
			Code      int    `json:"code"`
			Token     string `json:"token"`
			Addr      string `json:"addr"`
			AccountID int64  `json:"account_id"`
		}
		json.NewDecoder(resp.Body).Decode(&res)
		resp.Body.Close()
		fmt.Printf("%s: HTTP %d code=%d account_id=%d addr=%s token=%t\n", path, resp.StatusCode, res.Code, res.AccountID, res.Addr, res.Token != "")
	}
	// Output:
	// /v1/account/registry: HTTP 200 code=0 account_id=10001 addr=127.0.0.1:9000 token=true
	// /v1/account/auth: HTTP 200 code=0 account_id=10001 addr=127.0.0.1:9000 token=true
}

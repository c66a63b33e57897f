package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// fakeService is a started part for the banner: an address and nothing else.
type fakeService struct{ addr string }

func (f fakeService) Start() error                   { return nil }
func (f fakeService) Addr() string                   { return f.addr }
func (f fakeService) Shutdown(context.Context) error { return nil }

// On a data dir from an earlier run the banner suggests logging in (or a new
// name), not registering the README's player a second time.
func TestDevBannerOnRestart(t *testing.T) {
	c := &config{common: common{DataDir: "./data"}}
	up := []running{{"uc", fakeService{"127.0.0.1:8082"}}, {"game", fakeService{""}}, {"gate", fakeService{"127.0.0.1:9000"}}}
	var fresh, again strings.Builder
	printDevBanner(&fresh, c, "nats://127.0.0.1:4222", up, nil, false)
	printDevBanner(&again, c, "nats://127.0.0.1:4222", up, nil, true)
	if !strings.Contains(fresh.String(), "username=lisp&password=secret-lisp-1") {
		t.Errorf("first start: the banner does not suggest registering:\n%s", fresh.String())
	}
	if strings.Contains(again.String(), "username=lisp") || !strings.Contains(again.String(), "login lisp secret-lisp-1") ||
		!strings.Contains(again.String(), "register another name") {
		t.Errorf("restart: the banner should suggest logging in or another name:\n%s", again.String())
	}
	for _, s := range []string{fresh.String(), again.String()} {
		if !strings.Contains(s, "  play     http://127.0.0.1:8082/play/") {
			t.Errorf("the banner lacks the demo page's URL:\n%s", s)
		}
		for _, name := range []string{"uc", "game", "gate"} {
			if !strings.Contains(s, "  "+name+" ") {
				t.Errorf("the banner lacks %s:\n%s", name, s)
			}
		}
	}
}

// wsService is a started gate that also serves WebSocket.
type wsService struct {
	fakeService
	url string
}

func (w wsService) WSURL() string { return w.url }

// The banner names the gate's WebSocket URL when it has one, and no
// WebSocket line when it has none.
func TestDevBannerShowsWebSocketURL(t *testing.T) {
	c := &config{common: common{DataDir: "./data"}}
	var with, without strings.Builder
	printDevBanner(&with, c, "", []running{{"gate", wsService{fakeService{"127.0.0.1:9000"}, "ws://127.0.0.1:7101/ws"}}}, nil, false)
	printDevBanner(&without, c, "", []running{{"gate", wsService{fakeService{"127.0.0.1:9000"}, ""}}}, nil, false)
	if !strings.Contains(with.String(), "  gate-ws  ws://127.0.0.1:7101/ws\n") {
		t.Errorf("the banner lacks the WebSocket URL:\n%s", with.String())
	}
	if strings.Contains(without.String(), "gate-ws") {
		t.Errorf("a gate without WebSocket shows one:\n%s", without.String())
	}
}

// A part's error is prefixed with the part's name once, never twice.
func TestStartPartsNamesThePartOnce(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	fail := func(msg string) builder {
		return builder{name: "uc", build: func(deps) (service, error) { return nil, errors.New(msg) }}
	}
	for msg, want := range map[string]string{
		"uc: listen 127.0.0.1:8082: in use": "uc: listen 127.0.0.1:8082: in use",
		"bad key file":                      "uc: bad key file",
	} {
		_, err := startParts([]builder{fail(msg)}, log, func(string) (deps, error) { return deps{Log: log}, nil })
		if err == nil || err.Error() != want {
			t.Errorf("part error %q: got %v, want %q", msg, err, want)
		}
	}
}

// `hive dev` serves WebSocket by default; `hive gate` only when told.
func TestGateWSListenDefaults(t *testing.T) {
	dev, _ := devFlags()
	gate, _ := clusterFlags("gate")
	if got := dev.Lookup("gate-ws-listen").DefValue; got != devGateWSListen {
		t.Errorf("hive dev --gate-ws-listen default %q, want %q", got, devGateWSListen)
	}
	if got := gate.Lookup("gate-ws-listen").DefValue; got != "" {
		t.Errorf("hive gate --gate-ws-listen default %q, want empty (off)", got)
	}
}

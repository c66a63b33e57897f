package client

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/qeetap/hive/proto/def"
)

// ucStub answers every request with status and body, and records the last
// request's path, form and headers.
type ucStub struct {
	status int
	body   string
	header http.Header // extra answer headers

	path string
	form url.Values
	req  http.Header
}

// testDevice is a guest device id as uc accepts it: 22+ characters of
// [A-Za-z0-9_-].
const testDevice = "dev-0123456789abcdefghij"

func (u *ucStub) start(t *testing.T) *UC {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			t.Errorf("method %s", r.Method)
		}
		b, _ := io.ReadAll(r.Body)
		u.path, u.req = r.URL.Path, r.Header.Clone()
		u.form, _ = url.ParseQuery(string(b))
		for k, v := range u.header {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(u.status)
		io.WriteString(w, u.body)
	}))
	t.Cleanup(srv.Close)
	return &UC{BaseURL: srv.URL + "/", HTTP: srv.Client()}
}

func TestUCRegister(t *testing.T) {
	stub := &ucStub{status: 200, body: `{"code":0,"token":"tok","addr":"127.0.0.1:9000","account_id":"42","expires_at":1700000000,"future_key":[1,2]}`}
	uc := stub.start(t)
	res, err := uc.Register(testCtx(t), "alice", "pa ss&=")
	if err != nil {
		t.Fatal(err)
	}
	if res.GetToken() != "tok" || res.GetAddr() != "127.0.0.1:9000" || res.GetAccountId() != 42 || res.GetExpiresAt() != 1700000000 {
		t.Fatalf("res = %v", res)
	}
	if stub.path != PathRegister {
		t.Fatalf("path %s", stub.path)
	}
	if ct := stub.req.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Fatalf("content type %q", ct)
	}
	if stub.form.Get("username") != "alice" || stub.form.Get("password") != "pa ss&=" {
		t.Fatalf("form %v", stub.form)
	}
	if stub.req.Get("Authorization") != "" {
		t.Fatal("register sent a token")
	}
}

func TestUCPathsAndForms(t *testing.T) {
	stub := &ucStub{status: 200, body: `{"code":0}`}
	uc := stub.start(t)
	ctx := testCtx(t)
	cases := []struct {
		name string
		call func() error
		path string
		form url.Values
	}{
		{"auth", func() error { _, err := uc.Auth(ctx, "a", "b"); return err }, PathAuth, url.Values{"username": {"a"}, "password": {"b"}}},
		{"guest", func() error { _, err := uc.Guest(ctx, testDevice); return err }, PathAuth, url.Values{"device_id": {testDevice}}},
		{"bind", func() error { return uc.BindAccount(ctx, "T", 7, "a", "b") }, PathBindAccount, url.Values{"account_id": {"7"}, "username": {"a"}, "password": {"b"}}},
		{"code", func() error { return uc.RequestCode(ctx, "+8613800138000") }, PathVerification, url.Values{"phone": {"+8613800138000"}}},
		{"phone", func() error { return uc.BindPhone(ctx, 7, "p", "+86138", "123456") }, PathBindPhone, url.Values{"account_id": {"7"}, "password": {"p"}, "phone": {"+86138"}, "code": {"123456"}}},
		{"change", func() error { return uc.ChangePassword(ctx, 7, "old", "new") }, PathChangePassword, url.Values{"account_id": {"7"}, "password": {"old"}, "new_password": {"new"}}},
		{"reset", func() error { return uc.ResetPassword(ctx, 7, "123456", "new") }, PathResetPassword, url.Values{"account_id": {"7"}, "code": {"123456"}, "new_password": {"new"}}},
	}
	for _, c := range cases {
		if err := c.call(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if stub.path != c.path || stub.form.Encode() != c.form.Encode() {
			t.Fatalf("%s: sent %s %v, want %s %v", c.name, stub.path, stub.form, c.path, c.form)
		}
		if wantAuth := c.name == "bind"; (stub.req.Get("Authorization") == "Bearer T") != wantAuth {
			t.Fatalf("%s: Authorization %q", c.name, stub.req.Get("Authorization"))
		}
	}
}

func TestUCErrorCodes(t *testing.T) {
	cases := []struct {
		status int
		body   string
		header http.Header
		code   def.ResCode
		retry  time.Duration
	}{
		{200, `{"code":203}`, nil, def.ResCode_RC_ACCOUNT_CREATE_DUPLICATE, 0},
		{400, `{"code":2}`, nil, def.ResCode_RC_BAD_REQUEST, 0},
		{429, `{"code":3}`, http.Header{"Retry-After": {"7"}}, def.ResCode_RC_RATE_LIMITED, 7 * time.Second},
		{500, `{"code":1}`, nil, def.ResCode_RC_SERVER_INTERNAL_ERROR, 0},
	}
	for _, c := range cases {
		uc := (&ucStub{status: c.status, body: c.body, header: c.header}).start(t)
		res, err := uc.Register(testCtx(t), "a", "b")
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("%d %s: err = %v", c.status, c.body, err)
		}
		if e.Code != c.code || e.HTTPStatus != c.status || e.RetryAfter != c.retry || e.Op != "register" {
			t.Fatalf("%d %s: %+v", c.status, c.body, e)
		}
		if res.GetCode() != int32(c.code) {
			t.Fatalf("answer not returned with the error: %v", res)
		}
	}
}

func TestUCJunk(t *testing.T) {
	cases := []struct {
		status int
		body   string
		want   string
	}{
		{500, `<html>oops</html>`, "HTTP 500"},
		{502, ``, "HTTP 502"},
		{200, `not json`, "bad answer"},
		{200, `{}`, "no code"},
		{200, `{"code":"x"}`, "bad answer"},
		{503, `{"code":0}`, "HTTP 503 with code 0"},
	}
	for _, c := range cases {
		uc := (&ucStub{status: c.status, body: c.body}).start(t)
		_, err := uc.Auth(testCtx(t), "a", "b")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%d %q: err = %v, want it to mention %q", c.status, c.body, err, c.want)
		}
		if _, ok := CodeOf(err); ok {
			t.Fatalf("%d %q: junk became a result code: %v", c.status, c.body, err)
		}
	}
}

func TestUCTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	uc := &UC{BaseURL: srv.URL}
	_, err := uc.Guest(testCtx(t), testDevice)
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want a wrapped *url.Error", err)
	}
	if _, err := (&UC{}).Guest(testCtx(t), testDevice); err == nil || !strings.Contains(err.Error(), "BaseURL") {
		t.Fatalf("empty BaseURL: %v", err)
	}
}

package client

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/msg"
	"github.com/qeetap/hive/proto/rescode"
)

// maxBody bounds what the SDK reads of a REST answer; uc's answers are a few
// hundred bytes, so more means something else is answering.
const maxBody = 1 << 20

// REST paths of uc (PROTOCOL.md §3); uc routes these same constants.
const (
	PathAuth           = "/v1/account/auth"
	PathRegister       = "/v1/account/registry"
	PathBindAccount    = "/v1/account/bind/account"
	PathVerification   = "/v1/verification"
	PathBindPhone      = "/v1/account/bind/phone"
	PathChangePassword = "/v1/account/password/change"
	PathResetPassword  = "/v1/account/password/reset"
)

// UC is a client of the account server's REST API. The zero value is not
// usable: set BaseURL. It is safe for concurrent use.
type UC struct {
	// BaseURL is uc's root, e.g. "http://127.0.0.1:8082" (a trailing slash
	// is fine).
	BaseURL string
	// HTTP is the client to use; nil means http.DefaultClient. Set its
	// Timeout, or pass contexts with deadlines.
	HTTP *http.Client
}

// Register creates a named account (POST /v1/account/registry) and returns
// the token and gate address to log in with.
func (u *UC) Register(ctx context.Context, user, pass string) (*msg.Auth_Res, error) {
	res := &msg.Auth_Res{}
	err := u.post(ctx, "register", PathRegister, "", url.Values{"username": {user}, "password": {pass}}, res)
	return res, err
}

// Auth authenticates a named account (POST /v1/account/auth).
func (u *UC) Auth(ctx context.Context, user, pass string) (*msg.Auth_Res, error) {
	res := &msg.Auth_Res{}
	err := u.post(ctx, "auth", PathAuth, "", url.Values{"username": {user}, "password": {pass}}, res)
	return res, err
}

// Guest authenticates by device id alone (POST /v1/account/auth), creating
// the guest account on first use.
func (u *UC) Guest(ctx context.Context, deviceID string) (*msg.Auth_Res, error) {
	res := &msg.Auth_Res{}
	err := u.post(ctx, "guest", PathAuth, "", url.Values{"device_id": {deviceID}}, res)
	return res, err
}

// BindAccount gives the guest account id a username and password. token is
// that account's JWT (sent as Authorization: Bearer).
func (u *UC) BindAccount(ctx context.Context, token string, id int64, user, pass string) error {
	return u.post(ctx, "bind account", PathBindAccount, token, url.Values{
		"account_id": {strconv.FormatInt(id, 10)}, "username": {user}, "password": {pass},
	}, &msg.BindAccount_Res{})
}

// RequestCode asks uc to send a verification code to phone (E.164, e.g.
// "+8613800138000"). RC_ACCOUNT_VERIFICATION_TOO_FREQUENT means wait.
func (u *UC) RequestCode(ctx context.Context, phone string) error {
	return u.post(ctx, "verification", PathVerification, "", url.Values{"phone": {phone}}, &msg.VerificationCode_Res{})
}

// BindPhone binds phone to account id, proven by the account's password and
// the code sent to the phone.
func (u *UC) BindPhone(ctx context.Context, id int64, pass, phone, code string) error {
	return u.post(ctx, "bind phone", PathBindPhone, "", url.Values{
		"account_id": {strconv.FormatInt(id, 10)}, "password": {pass}, "phone": {phone}, "code": {code},
	}, &msg.BindPhone_Res{})
}

// ChangePassword replaces the password of account id, given the current one.
func (u *UC) ChangePassword(ctx context.Context, id int64, pass, newPass string) error {
	return u.post(ctx, "change password", PathChangePassword, "", url.Values{
		"account_id": {strconv.FormatInt(id, 10)}, "password": {pass}, "new_password": {newPass},
	}, &msg.ChangePassword_Res{})
}

// ResetPassword sets a new password for account id with a code sent to its
// bound phone (request one with RequestCode).
func (u *UC) ResetPassword(ctx context.Context, id int64, code, newPass string) error {
	return u.post(ctx, "reset password", PathResetPassword, "", url.Values{
		"account_id": {strconv.FormatInt(id, 10)}, "code": {code}, "new_password": {newPass},
	}, &msg.ResetPassword_Res{})
}

// post sends form as application/x-www-form-urlencoded to path and decodes
// the JSON answer into res. A decoded non-zero code is an *Error (res is
// filled as well); an answer without a code, or one that is not JSON, is a
// plain error naming the HTTP status and the start of the body.
func (u *UC) post(ctx context.Context, op, path, token string, form url.Values, res proto.Message) error {
	if u.BaseURL == "" {
		return fmt.Errorf("hive: %s: UC.BaseURL is empty", op)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(u.BaseURL, "/")+path, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("hive: %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := u.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("hive: %s: %w", op, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("hive: %s: HTTP %d: reading answer: %w", op, resp.StatusCode, err)
	}
	if len(body) > maxBody {
		return fmt.Errorf("hive: %s: HTTP %d: answer larger than %d bytes", op, resp.StatusCode, maxBody)
	}
	derr := protojson.UnmarshalOptions{DiscardUnknown: true, AllowPartial: true}.Unmarshal(body, res)
	code, hasCode := rescode.Lookup(res)
	if derr != nil || !hasCode {
		why := "no code in answer"
		if derr != nil {
			why = derr.Error()
		}
		return fmt.Errorf("hive: %s: HTTP %d: bad answer %q: %s", op, resp.StatusCode, snippet(body), why)
	}
	if code != def.ResCode_RC_OK {
		return &Error{Code: code, Op: op, HTTPStatus: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	}
	if resp.StatusCode != http.StatusOK {
		// A failure status with code 0 contradicts PROTOCOL §3; trust the status.
		return fmt.Errorf("hive: %s: HTTP %d with code 0: %q", op, resp.StatusCode, snippet(body))
	}
	return nil
}

// snippet is the start of a body for an error message.
func snippet(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// retryAfter parses a Retry-After header given in seconds; dates and junk
// give 0.
func retryAfter(h string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

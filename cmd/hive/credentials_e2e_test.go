package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/proto/def"
)

// A password change ends what the old password opened, across uc and the
// gate of a real `hive dev`: the live session is kicked with
// RC_LOGIN_KICKED and a reason, the token issued before the change is
// refused with RC_LOGIN_TOKEN_REVOKED, and a token issued after it logs in.
func TestBinaryPasswordChangeEndsOldSessions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs hive dev")
	}
	d := startDev(t, t.TempDir())
	defer d.stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	uc := &client.UC{BaseURL: d.ucURL}

	reg, err := uc.Register(ctx, "kestrel", "secret-kestrel-1")
	if err != nil {
		t.Fatal(err)
	}
	old := reg.GetToken()
	s, err := client.Dial(ctx, reg.GetAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Login(ctx, old); err != nil {
		t.Fatalf("login before the change: %v", err)
	}

	if err := uc.ChangePassword(ctx, reg.GetAccountId(), "secret-kestrel-1", "secret-kestrel-2"); err != nil {
		t.Fatalf("change password: %v", err)
	}
	select {
	case <-s.Done():
	case <-ctx.Done():
		t.Fatal("the session opened before the password change is still open")
	}
	var kick *client.Error
	if !errors.As(s.Err(), &kick) || kick.Code != def.ResCode_RC_LOGIN_KICKED || kick.Detail == "" {
		t.Fatalf("session ended with %v; want a kick with RC_LOGIN_KICKED and a reason", s.Err())
	}

	s2, err := client.Dial(ctx, reg.GetAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Login(ctx, old); err == nil {
		t.Fatal("the token issued before the password change still logs in")
	} else if code, _ := client.CodeOf(err); code != def.ResCode_RC_LOGIN_TOKEN_REVOKED {
		t.Fatalf("old token: %v; want RC_LOGIN_TOKEN_REVOKED", err)
	}

	if _, err := uc.Auth(ctx, "kestrel", "secret-kestrel-1"); err == nil {
		t.Fatal("the old password still authenticates")
	}
	fresh, err := uc.Auth(ctx, "kestrel", "secret-kestrel-2")
	if err != nil {
		t.Fatal(err)
	}
	s3, err := client.Dial(ctx, fresh.GetAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if _, err := s3.Login(ctx, fresh.GetToken()); err != nil {
		t.Fatalf("login with the token issued after the change: %v", err)
	}
}

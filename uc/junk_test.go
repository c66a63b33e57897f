package uc

import (
	"net/http"
	"strings"
	"testing"

	"github.com/qeetap/hive/client"
	"github.com/qeetap/hive/proto/def"
)

func TestJunkInput(t *testing.T) {
	e := newEnv(t, nil)
	big := strings.Repeat("x", 300)
	for _, c := range []struct {
		what, path, ctype, body string
	}{
		{"bad json", client.PathAuth, "application/json", `{"username":`},
		{"json array", client.PathAuth, "application/json", `["username","password"]`},
		{"json trailing", client.PathAuth, "application/json", `{"device_id":"a"} {}`},
		{"number for string", client.PathRegister, "application/json", `{"username":123,"password":"password1"}`},
		{"object for string", client.PathRegister, "application/json", `{"username":{"a":1},"password":"password1"}`},
		{"bool account_id", client.PathChangePassword, "application/json", `{"account_id":true,"password":"password1","new_password":"password2"}`},
		{"text account_id", client.PathChangePassword, "application/json", `{"account_id":"abc","password":"password1","new_password":"password2"}`},
		{"float account_id", client.PathChangePassword, "application/json", `{"account_id":1.5,"password":"password1","new_password":"password2"}`},
		{"huge account_id", client.PathChangePassword, "application/x-www-form-urlencoded", "account_id=99999999999999999999999&password=password1&new_password=password2"},
		{"negative account_id", client.PathChangePassword, "application/x-www-form-urlencoded", "account_id=-5&password=password1&new_password=password2"},
		{"invalid utf-8 form", client.PathRegister, "application/x-www-form-urlencoded", "username=%ff%fe&password=password1"},
		{"invalid utf-8 json", client.PathRegister, "application/json", "{\"username\":\"\xff\xfe\",\"password\":\"password1\"}"},
		{"huge field", client.PathRegister, "application/x-www-form-urlencoded", "username=" + big + "&password=password1"},
		{"huge json field", client.PathAuth, "application/json", `{"device_id":"` + big + `"}`},
		{"body over the limit", client.PathAuth, "application/x-www-form-urlencoded", "device_id=a&pad=" + strings.Repeat("p", 9000)},
		{"unknown content type", client.PathAuth, "text/plain", "device_id=a"},
		{"broken content type", client.PathAuth, "application/json; ===", "{}"},
		{"json null body", client.PathAuth, "application/json", `null`},
		{"empty json", client.PathAuth, "application/json", `{}`},
		{"empty form", client.PathAuth, "", ""},
		{"nul bytes", client.PathAuth, "application/x-www-form-urlencoded", "device_id=%00%00"},
	} {
		a := e.postRaw(c.path, c.ctype, c.body)
		if c.what == "nul bytes" || c.what == "json null body" {
			// A NUL device id is odd but valid UTF-8; null is "no params".
			if a.status != 200 && a.status != 400 {
				t.Errorf("%s: HTTP %d %s", c.what, a.status, a.raw)
			}
			continue
		}
		want(t, c.what, a, http.StatusBadRequest, def.ResCode_RC_BAD_REQUEST)
	}
	// Unknown route and wrong method answer with a code too.
	req, _ := http.NewRequest(http.MethodGet, e.base+client.PathAuth, nil)
	if a := e.do(req); a.status < 400 || a.code() != def.ResCode_RC_BAD_REQUEST {
		t.Errorf("GET: HTTP %d %s", a.status, a.raw)
	}
	if a := e.postRaw("/v1/nope", "", ""); a.status != 404 || a.code() != def.ResCode_RC_BAD_REQUEST {
		t.Errorf("unknown path: HTTP %d %s", a.status, a.raw)
	}
	// A gzip body is refused, not inflated.
	req, _ = http.NewRequest(http.MethodPost, e.base+client.PathAuth, strings.NewReader("\x1f\x8b"))
	req.Header.Set("Content-Encoding", "gzip")
	want(t, "gzip", e.do(req), 400, def.ResCode_RC_BAD_REQUEST)
	// Unknown extra parameters are ignored; the server still works.
	want(t, "extra params", e.post(client.PathAuth, form("device_id", testDevice("ok"), "color", "blue")), 200, def.ResCode_RC_OK)
	want(t, "json account_id as string", e.postRaw(client.PathChangePassword, "application/json", `{"account_id":"999999","password":"password1","new_password":"password2"}`), 200, def.ResCode_RC_ACCOUNT_NO_FOUND)
}

func TestAppendJSON(t *testing.T) {
	got := string(appendString(nil, "a\"b\\c\n\x01<é>\xff"))
	want := `"a\"b\\c\u000a\u0001\u003cé\u003e\ufffd"`
	if got != want {
		t.Fatalf("appendString = %s, want %s", got, want)
	}
}

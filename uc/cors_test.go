package uc

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A page of an allowed origin may call uc from a browser: the preflight is
// answered with the origin, POST and the headers the calls use, and the
// answer to the call carries the origin. Another origin gets no CORS
// header, so the browser keeps the answer from its page.
func TestCORS(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CORSOrigins = "https://play.example.com, http://127.0.0.1:8082" })
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, e.base+"/v1/account/auth", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type,authorization")
		res, err := e.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	res := preflight("https://play.example.com")
	if res.StatusCode != http.StatusNoContent || res.Header.Get("Access-Control-Allow-Origin") != "https://play.example.com" ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(res.Header.Get("Access-Control-Allow-Headers")), "authorization") ||
		res.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Fatalf("preflight of an allowed origin: %d %v", res.StatusCode, res.Header)
	}
	if res := preflight("https://evil.example.net"); res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight of another origin allowed: %v", res.Header)
	}

	a := e.post("/v1/account/registry", url.Values{"username": {"corsuser"}, "password": {"secret-cors-1"}}, "Origin", "https://play.example.com")
	if a.code() != 0 || a.header.Get("Access-Control-Allow-Origin") != "https://play.example.com" {
		t.Fatalf("call from an allowed origin: code %d, headers %v", a.code(), a.header)
	}
	a = e.post("/v1/account/auth", url.Values{"username": {"corsuser"}, "password": {"secret-cors-1"}}, "Origin", "https://evil.example.net")
	if got := a.header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("call from another origin carries Access-Control-Allow-Origin %q", got)
	}
}

// Without --uc-cors-origins no answer carries a CORS header.
func TestCORSOffByDefault(t *testing.T) {
	e := newEnv(t, nil)
	a := e.post("/v1/account/registry", url.Values{"username": {"plainuser"}, "password": {"secret-plain-1"}}, "Origin", "https://play.example.com")
	if got := a.header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("CORS header %q without --uc-cors-origins", got)
	}
}

// A malformed origin is a configuration error naming the flag.
func TestCORSOriginsChecked(t *testing.T) {
	for _, bad := range []string{"play.example.com", "https://play.example.com/", "ftp://x", "https://a.example.com,https://b.example.com/path"} {
		c := testConfig()
		c.CORSOrigins = bad
		if _, err := c.validate(); err == nil || !strings.Contains(err.Error(), "--uc-cors-origins") {
			t.Errorf("--uc-cors-origins %q: %v", bad, err)
		}
	}
	for _, good := range []string{"", "*", "https://play.example.com", "http://127.0.0.1:8082, https://a.example.com"} {
		c := testConfig()
		c.CORSOrigins = good
		if _, err := c.validate(); err != nil {
			t.Errorf("--uc-cors-origins %q refused: %v", good, err)
		}
	}
}

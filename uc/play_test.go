package uc

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/qeetap/hive/cache"
)

// Deps.Play is served read-only under /play/ next to the REST API: the
// page, its scripts with their content type, a redirect from /play, and no
// directory listing or writes.
func TestPlayPage(t *testing.T) {
	page := fstest.MapFS{
		"index.html": {Data: []byte("<title>play</title>")},
		"play.js":    {Data: []byte("export {};")},
	}
	e := newEnvDeps(t, cache.NewMemory(), nil, func(d *Deps) { d.Play = page })
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(c *http.Client, method, path string) (*http.Response, string) {
		req, _ := http.NewRequest(method, e.base+path, nil)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, string(b)
	}
	if res, body := get(e.hc, http.MethodGet, "/play/"); res.StatusCode != 200 || body != "<title>play</title>" {
		t.Fatalf("GET /play/: %d %q", res.StatusCode, body)
	}
	if res, body := get(e.hc, http.MethodGet, "/play/play.js"); res.StatusCode != 200 || body != "export {};" ||
		!strings.HasPrefix(res.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("GET /play/play.js: %d %q %q", res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	if res, _ := get(noRedirect, http.MethodGet, "/play"); res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/play/" {
		t.Fatalf("GET /play: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res, _ := get(e.hc, http.MethodGet, "/play/missing.js"); res.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /play/missing.js: %d", res.StatusCode)
	}
	if res, _ := get(e.hc, http.MethodPost, "/play/index.html"); res.StatusCode == 200 {
		t.Fatalf("POST /play/index.html: %d", res.StatusCode)
	}
}

// Without Deps.Play there is no /play/.
func TestPlayPageOffByDefault(t *testing.T) {
	e := newEnv(t, nil)
	res, err := e.hc.Get(e.base + "/play/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /play/ without Deps.Play: %d", res.StatusCode)
	}
}

package uc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// params are the parameters of every endpoint (PROTOCOL §3), by their
// snake_case names. Absent and empty are the same.
type params struct {
	Version     string
	Username    string
	Password    string
	DeviceID    string
	Phone       string
	Code        string
	NewPassword string
	AccountID   int64
}

// errBadRequest wraps every reason a request cannot be parsed (HTTP 400).
var errBadRequest = errors.New("bad request")

func badf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, a...))
}

// set stores one parameter, checking size and UTF-8. Unknown names are
// ignored (clients may send more than a server version knows).
func (p *params) set(name string, val []byte, maxField int) error {
	if len(val) > maxField {
		return badf("%s longer than %d bytes", name, maxField)
	}
	if !utf8.Valid(val) {
		return badf("%s is not UTF-8", name)
	}
	var dst *string
	switch name {
	case "version":
		dst = &p.Version
	case "username":
		dst = &p.Username
	case "password":
		dst = &p.Password
	case "device_id":
		dst = &p.DeviceID
	case "phone":
		dst = &p.Phone
	case "code":
		dst = &p.Code
	case "new_password":
		dst = &p.NewPassword
	case "account_id":
		if len(val) == 0 {
			return nil
		}
		n, err := strconv.ParseInt(string(val), 10, 64)
		if err != nil || n <= 0 {
			return badf("account_id %q is not a positive integer", val)
		}
		p.AccountID = n
		return nil
	default:
		return nil
	}
	*dst = string(val) // a copy: fasthttp reuses its buffers after the request
	if name == "phone" && len(val) > 1 && val[0] == ' ' {
		// `curl -d phone=+86...` sends the '+' unescaped, and form decoding
		// turns it into a space. No E.164 number starts with a space, so
		// take it back as the '+' it was.
		*dst = "+" + string(val[1:])
	}
	return nil
}

// parseParams reads the body as application/x-www-form-urlencoded (also
// when no Content-Type is given, as `curl -d` sends) or application/json
// (also without a Content-Type when the body starts with '{').
// The body is read raw: a Content-Encoding is refused, not inflated, so a
// small compressed body cannot expand past the body limit.
func parseParams(c *fiber.Ctx, maxField int) (params, error) {
	var p params
	if len(c.Request().Header.Peek(fiber.HeaderContentEncoding)) > 0 {
		return p, badf("Content-Encoding is not accepted")
	}
	body := c.Request().Body()
	ct := string(c.Request().Header.ContentType())
	mt := ""
	if ct != "" {
		var err error
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return p, badf("Content-Type %q", ct)
		}
	}
	if mt == "" && bytes.HasPrefix(bytes.TrimLeft(body, " \t\r\n"), []byte("{")) {
		// A JSON object sent without a Content-Type (no form starts
		// with '{'): read it as the JSON it is.
		mt = fiber.MIMEApplicationJSON
	}
	switch mt {
	case "", fiber.MIMEApplicationForm:
		args := fasthttp.AcquireArgs()
		defer fasthttp.ReleaseArgs(args)
		args.ParseBytes(body)
		var err error
		args.VisitAll(func(k, v []byte) {
			if err == nil {
				err = p.set(string(k), v, maxField)
			}
		})
		return p, err
	case fiber.MIMEApplicationJSON:
		return p, p.parseJSON(body, maxField)
	default:
		return p, badf("Content-Type %q: send %s or %s", mt, fiber.MIMEApplicationForm, fiber.MIMEApplicationJSON)
	}
}

// parseJSON takes a JSON object whose values are strings, or for
// account_id a number or a decimal string; null means absent.
func (p *params) parseJSON(body []byte, maxField int) error {
	if !utf8.Valid(body) {
		return badf("body is not UTF-8")
	}
	var obj map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(body))
	if err := d.Decode(&obj); err != nil {
		return badf("body is not a JSON object: %v", err)
	}
	if d.More() {
		return badf("trailing data after the JSON object")
	}
	for k, raw := range obj {
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var val []byte
		switch {
		case raw[0] == '"':
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return badf("%s: %v", k, err)
			}
			val = []byte(s)
		case k == "account_id" && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9'):
			val = raw
		default:
			if !isKnownParam(k) {
				continue
			}
			return badf("%s must be a string", k)
		}
		if err := p.set(k, val, maxField); err != nil {
			return err
		}
	}
	return nil
}

func isKnownParam(k string) bool {
	switch k {
	case "version", "username", "password", "device_id", "phone", "code", "new_password", "account_id":
		return true
	}
	return false
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(c *fiber.Ctx) string {
	h := string(c.Request().Header.Peek(fiber.HeaderAuthorization))
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// clientIP is the address rate limits and lockouts count against: the TCP
// peer, unless the peer is a trusted proxy; then X-Forwarded-For is read
// from the right (the hops nearest us, which our proxies appended) and the
// first address that is not a trusted proxy wins. Entries left of it were
// written by the client and could be anything.
func clientIP(peer netip.Addr, xff []byte, proxies []netip.Prefix) netip.Addr {
	peer = peer.Unmap()
	if len(proxies) == 0 || !trusted(peer, proxies) || len(xff) == 0 {
		return peer
	}
	hops := strings.Split(string(xff), ",")
	addr := peer
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return addr // junk: stop at the last hop we could trust
		}
		addr = a.Unmap()
		if !trusted(addr, proxies) {
			return addr
		}
	}
	return addr
}

func trusted(a netip.Addr, proxies []netip.Prefix) bool {
	for _, p := range proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

package uc

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
)

// corsMaxAge is how long, in seconds, a browser may reuse a preflight answer.
const corsMaxAge = 600

// withCORS lets pages of the configured origins call uc from a browser:
// preflights are answered, and answers carry Access-Control-Allow-Origin for
// an allowed Origin only. Every endpoint is a POST with a form or JSON body
// and, for bind, an Authorization header.
func (s *Server) withCORS(app *fiber.App) {
	if s.cfg.CORSOrigins == "" {
		return
	}
	app.Use(cors.New(cors.Config{
		AllowOrigins: strings.ReplaceAll(s.cfg.CORSOrigins, " ", ""),
		AllowMethods: fiber.MethodPost,
		AllowHeaders: "Content-Type, Authorization",
		MaxAge:       corsMaxAge,
	}))
}

// checkOrigins accepts "", "*", or a comma-separated list of
// http(s)://host[:port] origins with nothing after the host.
func checkOrigins(list string) error {
	if list == "" || strings.TrimSpace(list) == "*" {
		return nil
	}
	for _, o := range strings.Split(list, ",") {
		o = strings.TrimSpace(o)
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("%q is not an origin: want scheme://host[:port], e.g. https://play.example.com", o)
		}
	}
	return nil
}

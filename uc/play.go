package uc

import (
	"net/http"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
)

// PlayPath is where Deps.Play is served: the demo game page of `hive dev`.
const PlayPath = "/play"

// withPlay serves the files of Deps.Play read-only under PlayPath, so a
// page there calls uc on its own origin (no CORS).
func (s *Server) withPlay(app *fiber.App) {
	if s.deps.Play == nil {
		return
	}
	files := filesystem.New(filesystem.Config{Root: http.FS(s.deps.Play)})
	app.Use(PlayPath, func(c *fiber.Ctx) error {
		if c.Path() == PlayPath {
			// The page's relative links need the trailing slash.
			return c.Redirect(PlayPath+"/", http.StatusMovedPermanently)
		}
		return files(c)
	})
}

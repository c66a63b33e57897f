package main

import (
	"flag"

	"github.com/qeetap/hive/game"
)

// gamePart is a game worker: the queue group game on msg.*.Req.
func gamePart() part {
	return part{name: "game", bind: func(fs *flag.FlagSet) func(deps) (service, error) {
		cfg := game.DefaultConfig()
		cfg.Flags(fs)
		return func(d deps) (service, error) {
			return game.New(cfg, game.Deps{
				NC: d.NC, Reads: d.Reads, JS: d.JS, Cache: d.Cache, Registry: d.Registry,
				Logger: d.Log, Metrics: d.Metrics,
			})
		}
	}}
}

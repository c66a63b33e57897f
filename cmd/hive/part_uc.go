package main

import (
	"flag"
	"path/filepath"

	"github.com/qeetap/hive/sdk/ts/demo"
	"github.com/qeetap/hive/uc"
)

// ucPart is the account server: REST accounts, JWTs, gate picking.
func ucPart() part {
	return part{name: "uc", bind: func(fs *flag.FlagSet) func(deps) (service, error) {
		cfg := uc.DefaultConfig()
		cfg.Flags(fs)
		return func(d deps) (service, error) {
			c := cfg
			if c.KeyFile == "" { // the key lives with the rest of the data
				c.KeyFile = filepath.Join(d.DataDir, "uc.key")
			}
			if d.Dev {
				given := map[string]bool{}
				fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
				if c.SMSWebhook == "" {
					// The developer reads codes off the log.
					c.SMSLogCodes = true
				}
				if !given["uc-create-limit"] {
					// Every client of hive dev is the developer on one
					// address (hive bench signs up new players each run).
					c.CreateLimit = 0
				}
			}
			ud := uc.Deps{
				NC: d.NC, JS: d.JS, Registry: d.Registry, Cache: d.Cache,
				Logger: d.Log, Metrics: d.Metrics,
			}
			if d.Dev {
				ud.Play = demo.Files // the demo game page at /play/
			}
			return uc.New(c, ud)
		}
	}}
}

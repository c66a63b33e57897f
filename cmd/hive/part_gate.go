package main

import (
	"flag"

	"github.com/qeetap/hive/gate"
)

// devGateWSListen is `hive dev`'s --gate-ws-listen: browsers on the
// developer's machine reach the gate at ws://127.0.0.1:7101/ws. `hive gate`
// serves no WebSocket unless told.
const devGateWSListen = "127.0.0.1:7101"

// gatePart is the gateway clients connect to (TCP, and WebSocket if set).
func gatePart() part {
	return part{name: "gate", bind: func(fs *flag.FlagSet) func(deps) (service, error) {
		cfg := gate.DefaultConfig()
		cfg.ID = "" // not given: defaultGateID, once the addresses are parsed
		if fs.Name() == "hive dev" {
			cfg.WSListen = devGateWSListen
		}
		cfg.Flags(fs)
		describeGateID(fs)
		return func(d deps) (service, error) {
			cfg := cfg
			if cfg.ID == "" {
				cfg.ID = defaultGateID(cfg.Advertise, cfg.Listen)
			}
			return gate.New(cfg, gate.Deps{NC: d.NC, Registry: d.Registry, Logger: d.Log, Metrics: d.Metrics})
		}
	}}
}

package main

import (
	"flag"

	"github.com/qeetap/hive/gate"
)

// gatePart is the TCP gateway clients connect to.
func gatePart() part {
	return part{name: "gate", bind: func(fs *flag.FlagSet) func(deps) (service, error) {
		cfg := gate.DefaultConfig()
		cfg.ID = "" // not given: defaultGateID, once the addresses are parsed
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

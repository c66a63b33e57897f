package main

import (
	"flag"

	"github.com/qeetap/hive/gate"
)

// gate, the TCP gateway (issue 4).
func init() {
	wire(part{name: "gate", issue: 4, bind: func(fs *flag.FlagSet) func(deps) (service, error) {
		cfg := gate.DefaultConfig()
		cfg.Flags(fs)
		return func(d deps) (service, error) {
			return gate.New(cfg, gate.Deps{NC: d.NC, Registry: d.Registry, Logger: d.Log, Metrics: d.Metrics})
		}
	}})
}

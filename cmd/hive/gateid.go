package main

import (
	"flag"
	"net"
	"os"

	"github.com/qeetap/hive/gate"
)

// describeGateID rewrites --gate-id's help for the default cmd/hive gives it.
func describeGateID(fs *flag.FlagSet) {
	if f := fs.Lookup("gate-id"); f != nil {
		f.Usage = "gate id on the bus and in the registry: letters, digits, '-', '_' (default: <hostname>-<port of --gate-advertise, else --gate-listen>, " +
			"so a restarted gate keeps its id; give each gate its own when several share a host name and port)"
	}
}

// defaultGateID is a gate's id when --gate-id is not given: the host name
// and the port clients reach it on ("web-3-9000"). It is stable, so a
// restarted gate comes back as itself (its registry entry is replaced, not
// joined by a second one until the old lease expires), and two gates on one
// host differ by their ports. A port chosen by the kernel (0) names nothing
// stable: then the gate package's host plus random suffix.
func defaultGateID(advertise, listen string) string {
	addr := advertise
	if addr == "" {
		addr = listen
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "0" {
		return gate.DefaultID()
	}
	host, _ := os.Hostname()
	return gate.IDFrom(host, port)
}

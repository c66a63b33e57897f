package gate

import (
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/qeetap/hive/bus"
)

// reqHeader is a reusable set of request headers (DESIGN §3): the map and
// the one-element value slices it holds are built once, and a publish only
// assigns the values. nats.go encodes the map inside PublishMsg and keeps
// no reference to it, so after the publish it can be reused.
type reqHeader struct {
	h                        nats.Header
	gate, session, req, user [1]string
}

// reqHeaderPool holds reqHeaders for publishRequest: no per-session memory,
// no map and slice allocations per request.
var reqHeaderPool = sync.Pool{New: func() any {
	r := &reqHeader{}
	r.h = nats.Header{
		bus.HdrGate:    r.gate[:],
		bus.HdrSession: r.session[:],
		bus.HdrReq:     r.req[:],
		bus.HdrUser:    r.user[:],
	}
	return r
}}

// clear drops the values, so a pooled reqHeader holds no strings.
func (r *reqHeader) clear() {
	r.gate[0], r.session[0], r.req[0], r.user[0] = "", "", "", ""
}

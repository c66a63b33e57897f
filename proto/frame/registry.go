package frame

import (
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/qeetap/hive/proto/msg" // registers the msg types
)

// apiPackage is the proto package whose messages are the wire apis.
const apiPackage = "msg"

// apiEntry is what the registry knows about one api name.
type apiEntry struct {
	mt  protoreflect.MessageType
	req bool       // name ends with ".Req"
	res string     // for a Req: the matching Res name
	v   *validator // for Validate; nil: Validate uses Decode
}

// apis maps every api name (msg.X.Req and msg.X.Res) to its entry. It is
// built once, after package msg has registered its types, and only read
// afterwards, so concurrent lookups are safe.
var apis = buildAPIs()

// buildAPIs collects the messages named X.Req or X.Res nested in a top-level
// message X of package msg from protoregistry.GlobalTypes.
func buildAPIs() map[string]apiEntry {
	m := make(map[string]apiEntry)
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		d := mt.Descriptor()
		if d.ParentFile().Package() != apiPackage || (d.Name() != "Req" && d.Name() != "Res") {
			return true
		}
		if p, ok := d.Parent().(protoreflect.MessageDescriptor); !ok || p.Parent() != d.ParentFile() {
			return true
		}
		m[string(d.FullName())] = apiEntry{mt: mt, req: d.Name() == "Req", v: newValidator(d)}
		return true
	})
	for name, e := range m {
		if e.req {
			res := strings.TrimSuffix(name, "Req") + "Res"
			if _, ok := m[res]; ok {
				e.res = res
				m[name] = e
			}
		}
	}
	return m
}

// Lookup returns the generated type of the api name: a message X.Req or X.Res
// of package msg. Other names, including those of package msg that are not
// Req or Res, are unknown. It does not allocate.
func Lookup(api []byte) (protoreflect.MessageType, bool) {
	e, ok := apis[string(api)]
	return e.mt, ok
}

// API returns the api name of a message: its full proto name, such as
// "msg.Login.Req". Every api name in Hive is derived from its type this way.
func API(m proto.Message) string { return string(m.ProtoReflect().Descriptor().FullName()) }

// IsRequest reports whether api is a known request name (msg.X.Req), the only
// kind a client may send.
func IsRequest(api []byte) bool {
	return apis[string(api)].req
}

// ResponseAPI returns the name of the response to a request name:
// "msg.X.Req" gives "msg.X.Res". It returns "" for a name that does not end
// in ".Req". For a known request it does not allocate.
func ResponseAPI(reqAPI string) string {
	if e, ok := apis[reqAPI]; ok && e.res != "" {
		return e.res
	}
	if !strings.HasSuffix(reqAPI, ".Req") {
		return ""
	}
	return reqAPI[:len(reqAPI)-len("Req")] + "Res"
}

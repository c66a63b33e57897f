package gate

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
	"github.com/qeetap/hive/proto/msg"
)

// Api names the gate treats specially.
const (
	apiLogin     = "msg.Login.Req"
	apiLoginRes  = "msg.Login.Res"
	apiLogout    = "msg.Logout.Req"
	apiLogoutRes = "msg.Logout.Res"
	apiEcho      = "msg.Echo.Req"
	apiKickRes   = "msg.Kick.Res"
	apiErrorRes  = "msg.Error.Res"
)

// serverOnly are request names that exist in package msg only because every
// X has a Req and a Res; a client never sends them (Kick and Error are
// server-to-client messages), so the gate answers them as unknown.
var serverOnly = map[string]bool{"msg.Kick.Req": true, "msg.Error.Req": true}

// cannedCodes are the result codes the gate answers by itself; their frames
// are encoded once per request api.
var cannedCodes = []def.ResCode{
	def.ResCode_RC_SERVER_INTERNAL_ERROR,
	def.ResCode_RC_BAD_REQUEST,
	def.ResCode_RC_RATE_LIMITED,
	def.ResCode_RC_TIMEOUT,
	def.ResCode_RC_COMMON_SERVER_NOT_READY,
	def.ResCode_RC_LOGIN_TOKEN_INVALID,
	def.ResCode_RC_LOGIN_TOKEN_REVOKED,
	def.ResCode_RC_LOGIN_TOKEN_EXPIRED,
	def.ResCode_RC_LOGIN_REQUIRED,
	def.ResCode_RC_GATE_DRAINING,
}

// apiInfo is what the gate knows about one api name (msg.X.Req or msg.X.Res).
type apiInfo struct {
	name   string
	req    bool   // a request a client may send (not server-only)
	res    string // for a request: its Res name
	canned map[def.ResCode][]byte
}

// answer is the frame the gate sends when it answers request a with code
// itself: a.res{code} when that Res has a code field, else msg.Error.Res{code, api}.
func (a *apiInfo) answer(code def.ResCode) []byte {
	if f, ok := a.canned[code]; ok {
		return f
	}
	return errorFrame(code, a.name, "")
}

// apiTable maps every api name to its info.
type apiTable map[string]*apiInfo

// staticAPIs is built once at init and only read afterwards.
var staticAPIs = buildAPIs()

func buildAPIs() apiTable {
	t := apiTable{}
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		name := string(mt.Descriptor().FullName())
		if _, ok := frame.Lookup([]byte(name)); !ok {
			return true
		}
		a := &apiInfo{name: name, req: frame.IsRequest([]byte(name)) && !serverOnly[name]}
		if a.req {
			a.res = frame.ResponseAPI(name)
			a.canned = make(map[def.ResCode][]byte, len(cannedCodes))
			for _, c := range cannedCodes {
				a.canned[c] = codeFrame(a.res, name, c)
			}
		}
		t[name] = a
		return true
	})
	return t
}

// codeFrame encodes res{code} if res has an int32 field named code and no
// other required field, else msg.Error.Res{code, api: reqAPI}.
func codeFrame(res, reqAPI string, code def.ResCode) []byte {
	mt, ok := frame.Lookup([]byte(res))
	if ok {
		m := mt.New()
		if fd := m.Descriptor().Fields().ByName("code"); fd != nil && fd.Kind() == protoreflect.Int32Kind {
			m.Set(fd, protoreflect.ValueOfInt32(int32(code)))
			if b, err := frame.AppendMessage(nil, m.Interface()); err == nil {
				return b
			}
		}
	}
	return errorFrame(code, reqAPI, "")
}

// errorFrame encodes msg.Error.Res{code, api, detail}.
func errorFrame(code def.ResCode, api, detail string) []byte {
	e := &msg.Error_Res{Code: proto.Int32(int32(code)), Api: proto.String(api)}
	if detail != "" {
		e.Detail = proto.String(detail)
	}
	b, err := frame.AppendMessage(nil, e)
	if err != nil {
		panic(fmt.Sprintf("gate: encode msg.Error.Res: %v", err)) // fixed message: cannot fail
	}
	return b
}

// kickPayload encodes msg.Kick.Res{code, reason}.
func kickPayload(code def.ResCode, reason string) []byte {
	b, err := proto.Marshal(&msg.Kick_Res{Code: proto.Int32(int32(code)), Reason: proto.String(reason)})
	if err != nil {
		panic(fmt.Sprintf("gate: encode msg.Kick.Res: %v", err))
	}
	return b
}

// isResponseName reports whether api is a known msg.X.Res, the only kind the
// gate writes to a client.
func isResponseName(api string) bool {
	return strings.HasSuffix(api, ".Res") && staticAPIs[api] != nil
}

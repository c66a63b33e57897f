package gate

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/qeetap/hive/envelope"
	"github.com/qeetap/hive/proto/def"
	"github.com/qeetap/hive/proto/frame"
)

// serverOnly are request names that exist in package msg only because every
// X has a Req and a Res; a client never sends them (Kick and Error are
// server-to-client messages), so the gate answers them as unknown.
var serverOnly = map[string]bool{envelope.KickReq: true, envelope.ErrorReq: true}

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

// codeFrame encodes envelope.CodeAnswer(res, reqAPI, code) as a frame.
func codeFrame(res, reqAPI string, code def.ResCode) []byte {
	return mustFrame(envelope.CodeAnswer(res, reqAPI, code))
}

// errorFrame encodes msg.Error.Res{code, api, detail} as a frame.
func errorFrame(code def.ResCode, api, detail string) []byte {
	return mustFrame(envelope.ErrorAnswer(code, api, detail))
}

// mustFrame encodes one of the gate's own answers: fixed small messages.
func mustFrame(m proto.Message) []byte {
	b, err := frame.AppendMessage(nil, m)
	if err != nil {
		panic(fmt.Sprintf("gate: encode %s: %v", frame.API(m), err)) // cannot fail
	}
	return b
}

// isResponseName reports whether api is a known msg.X.Res, the only kind the
// gate writes to a client.
func isResponseName(api string) bool {
	return strings.HasSuffix(api, ".Res") && staticAPIs[api] != nil
}

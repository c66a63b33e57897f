package frame

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"testing/iotest"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// vector is one entry of testdata/vectors.json (see testdata/README.md).
type vector struct {
	Name     string          `json:"name"`
	API      string          `json:"api"`
	FrameHex string          `json:"frame_hex"`
	Message  json.RawMessage `json:"message"`
	Expect   string          `json:"expect"`
	Note     string          `json:"note"`
}

const vectorsFile = "testdata/vectors.json"

// loadVectors reads the test vectors.
func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	data, err := os.ReadFile(vectorsFile)
	if err != nil {
		tb.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(data, &vs); err != nil {
		tb.Fatalf("%s: %v", vectorsFile, err)
	}
	return vs
}

// frameBytes decodes the vector's frame_hex.
func (v vector) frameBytes(tb testing.TB) []byte {
	tb.Helper()
	b, err := hex.DecodeString(v.FrameHex)
	if err != nil {
		tb.Fatalf("%s: frame_hex: %v", v.Name, err)
	}
	return b
}

// isCloseErr reports whether err is one of the errors after which the gate
// closes the connection.
func isCloseErr(err error) bool {
	for _, e := range []error{ErrFrameTooShort, ErrEmptyAPI, ErrAPISize, ErrFrameTooLarge, ErrBadPayload, io.ErrUnexpectedEOF} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// gateVerdict is what the gate does with one frame sent by a logged-in
// client, following PROTOCOL §2 and §4: "close", "error:5",
// "res:2" (answered with the request's own Res) or "ok".
func gateVerdict(t *testing.T, frame []byte) string {
	t.Helper()
	r := NewReader(bytes.NewReader(frame), MaxSize)
	api, payload, err := r.Next()
	if err != nil {
		if !isCloseErr(err) {
			t.Fatalf("Next: %v is not a protocol violation", err)
		}
		return "close"
	}
	m, err := Decode(api, payload)
	switch {
	case errors.Is(err, ErrUnknownAPI):
		if _, ok := Lookup(api); ok || IsRequest(api) {
			t.Errorf("Decode says unknown but Lookup knows %q", api)
		}
		return "error:5"
	case !IsRequest(api):
		return "error:5" // a known name, but clients send only X.Req
	case errors.Is(err, ErrBadPayload):
		return "close"
	case errors.Is(err, ErrMissingRequired):
		if m == nil {
			t.Error("ErrMissingRequired without the partial message")
		}
		res := ResponseAPI(string(api))
		if _, ok := Lookup([]byte(res)); !ok {
			t.Errorf("ResponseAPI(%q) = %q, not a known api", api, res)
		}
		return "res:2"
	case err != nil:
		t.Fatalf("Decode: unexpected error %v", err)
	}
	if _, _, err := r.Next(); err != io.EOF {
		t.Fatalf("second Next: %v, want io.EOF", err)
	}
	return "ok"
}

// wantCloseErr names the exact error expected for the known close vectors.
var wantCloseErr = map[string]error{
	"api_size_past_end":    ErrAPISize,
	"size_zero":            ErrFrameTooShort,
	"size_one":             ErrFrameTooShort,
	"empty_api":            ErrEmptyAPI,
	"payload_not_protobuf": ErrBadPayload,
}

func TestVectors(t *testing.T) {
	vs := loadVectors(t)
	kinds := map[string]int{}
	for _, v := range vs {
		kinds[strings.SplitN(v.Expect, ":", 2)[0]]++
		t.Run(v.Name, func(t *testing.T) {
			frame := v.frameBytes(t)
			switch v.Expect {
			case "decode":
				testDecodeVector(t, v, frame)
			case "close":
				if got := gateVerdict(t, frame); got != "close" {
					t.Fatalf("verdict %q, want close", got)
				}
				if want, ok := wantCloseErr[v.Name]; ok {
					_, err := decodeOne(frame)
					if !errors.Is(err, want) {
						t.Fatalf("error %v, want %v", err, want)
					}
				}
			case "error:5", "res:2":
				if got := gateVerdict(t, frame); got != v.Expect {
					t.Fatalf("verdict %q, want %q (%s)", got, v.Expect, v.Note)
				}
			default:
				t.Fatalf("unknown expect %q", v.Expect)
			}
		})
	}
	for _, k := range []string{"decode", "close", "error", "res"} {
		if kinds[k] == 0 {
			t.Errorf("no vector expects %s: %s is incomplete", k, vectorsFile)
		}
	}
}

// decodeOne reads one frame and decodes it, returning the first error.
func decodeOne(frame []byte) (proto.Message, error) {
	api, payload, err := NewReader(bytes.NewReader(frame), MaxSize).Next()
	if err != nil {
		return nil, err
	}
	return Decode(api, payload)
}

func testDecodeVector(t *testing.T, v vector, frame []byte) {
	// Byte by byte as well as whole: the result must not depend on how the
	// stream is cut.
	for _, src := range []io.Reader{bytes.NewReader(frame), oneByte(frame)} {
		r := NewReader(src, MaxSize)
		api, payload, err := r.Next()
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if string(api) != v.API {
			t.Fatalf("api %q, want %q", api, v.API)
		}
		if HeaderSize+len(api)+len(payload) != len(frame) {
			t.Fatalf("api+payload %d bytes, frame %d", len(api)+len(payload), len(frame))
		}
		got, err := Decode(api, payload)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		mt, _ := Lookup(api)
		want := mt.New().Interface()
		if err := protojson.Unmarshal(v.Message, want); err != nil {
			t.Fatalf("protojson: %v", err)
		}
		if !proto.Equal(got, want) {
			t.Fatalf("decoded %v\nwant %v", got, want)
		}
		if _, _, err := r.Next(); err != io.EOF {
			t.Fatalf("after the frame: %v, want io.EOF", err)
		}

		// Re-encoding either message gives the vector's bytes exactly, so every
		// required field (zero values included) is on the wire.
		for _, m := range []proto.Message{got, want} {
			enc, err := AppendMessage([]byte("prefix"), m)
			if err != nil {
				t.Fatalf("AppendMessage: %v", err)
			}
			if !bytes.Equal(enc[len("prefix"):], frame) || string(enc[:len("prefix")]) != "prefix" {
				t.Fatalf("AppendMessage = %x\nwant %x", enc[len("prefix"):], frame)
			}
			api, payload, err := Encode(m)
			if err != nil || api != v.API {
				t.Fatalf("Encode: %q, %v", api, err)
			}
			if enc2, _ := AppendFrame(nil, api, payload); !bytes.Equal(enc2, frame) {
				t.Fatalf("Encode+AppendFrame = %x\nwant %x", enc2, frame)
			}
		}
	}
}

// oneByte returns a reader that yields b one byte per Read.
func oneByte(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) }

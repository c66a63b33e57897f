package frame

import (
	"fmt"

	"google.golang.org/protobuf/proto"
)

// Decode turns a frame's api and payload into the message of package msg the
// api names. The payload is parsed into a new message and not retained, so
// the slices of Reader.Next may be passed directly.
//
// Errors: ErrUnknownAPI for an api that names no msg.X.Req or msg.X.Res
// (answer msg.Error.Res, keep the connection); ErrBadPayload for a payload
// that does not parse as that type (close the connection);
// ErrMissingRequired when it parses but a required field is absent (answer
// X.Res{code: RC_BAD_REQUEST}, keep the connection). With ErrMissingRequired
// the partly filled message is returned as well; otherwise it is nil on error.
func Decode(api, payload []byte) (proto.Message, error) {
	mt, ok := Lookup(api)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownAPI, api)
	}
	m := mt.New().Interface()
	if err := (proto.UnmarshalOptions{AllowPartial: true}).Unmarshal(payload, m); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadPayload, api, err)
	}
	if err := proto.CheckInitialized(m); err != nil {
		return m, fmt.Errorf("%w: %s: %v", ErrMissingRequired, api, err)
	}
	return m, nil
}

// Encode marshals m and returns its api (the full protobuf name) and payload,
// ready for Writer.WriteFrame or AppendFrame. A missing required field is an
// error, as is a frame that would exceed MaxSize (ErrFrameTooLarge).
// AppendMessage does the same without allocating.
func Encode(m proto.Message) (api string, payload []byte, err error) {
	if m == nil {
		return "", nil, fmt.Errorf("%w: nil message", ErrEmptyAPI)
	}
	api = string(m.ProtoReflect().Descriptor().FullName())
	payload, err = proto.MarshalOptions{AllowPartial: false}.Marshal(m)
	if err != nil {
		return "", nil, fmt.Errorf("frame: marshal %s: %w", api, err)
	}
	if size := 2 + len(api) + len(payload); size > MaxSize {
		return "", nil, fmt.Errorf("%w: %s: size %d > %d", ErrFrameTooLarge, api, size, MaxSize)
	}
	return api, payload, nil
}

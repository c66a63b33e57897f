package frame

import (
	"errors"
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
	if err := DecodeInto(m, payload); err != nil {
		if errors.Is(err, ErrBadPayload) {
			return nil, err
		}
		return m, err
	}
	return m, nil
}

// DecodeInto is Decode for a caller that already holds a new, empty message
// of the api's type (the game worker makes one per route without the
// registry lookup): the same rules and errors, ErrBadPayload or
// ErrMissingRequired.
func DecodeInto(m proto.Message, payload []byte) error {
	// Merge into the empty message: the same result as Unmarshal without its Reset.
	if err := (proto.UnmarshalOptions{AllowPartial: true, Merge: true}).Unmarshal(payload, m); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadPayload, m.ProtoReflect().Descriptor().FullName(), err)
	}
	if err := proto.CheckInitialized(m); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrMissingRequired, m.ProtoReflect().Descriptor().FullName(), err)
	}
	return nil
}

// Encode marshals m and returns its api (the full protobuf name) and payload,
// ready for Writer.WriteFrame or AppendFrame. A missing required field is an
// error, as is a frame that would exceed MaxSize (ErrFrameTooLarge).
// AppendMessage does the same without allocating.
func Encode(m proto.Message) (api string, payload []byte, err error) {
	if m == nil {
		return "", nil, fmt.Errorf("%w: nil message", ErrEmptyAPI)
	}
	api = API(m)
	payload, err = proto.MarshalOptions{AllowPartial: false}.Marshal(m)
	if err != nil {
		return "", nil, fmt.Errorf("frame: marshal %s: %w", api, err)
	}
	if size := 2 + len(api) + len(payload); size > MaxSize {
		return "", nil, fmt.Errorf("%w: %s: size %d > %d", ErrFrameTooLarge, api, size, MaxSize)
	}
	return api, payload, nil
}

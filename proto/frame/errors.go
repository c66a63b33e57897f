package frame

import "errors"

// Framing errors. The Reader and the Append functions return them wrapped
// with detail; test with errors.Is. Every one of them read from a peer is a
// protocol violation and the caller closes the connection.
var (
	// ErrFrameTooShort means a size field below 2: no room for api_size.
	ErrFrameTooShort = errors.New("frame: size too short")

	// ErrEmptyAPI means api_size is 0 (or an empty api was given to encode).
	ErrEmptyAPI = errors.New("frame: empty api")

	// ErrAPISize means api_size is larger than the bytes the frame holds
	// after api_size (api_size > size-2).
	ErrAPISize = errors.New("frame: api_size past end of frame")

	// ErrFrameTooLarge means a size larger than the reader's limit, or a frame
	// to encode whose size would exceed MaxSize.
	ErrFrameTooLarge = errors.New("frame: frame too large")
)

// Payload errors, returned by Decode (wrapped with the api name).
var (
	// ErrUnknownAPI means the api names no message of package msg. The gate
	// answers msg.Error.Res{code: RC_API_UNKNOWN, api} and keeps the
	// connection.
	ErrUnknownAPI = errors.New("frame: unknown api")

	// ErrBadPayload means the payload does not parse as the message the api
	// names. It is a protocol violation: the caller closes the connection.
	ErrBadPayload = errors.New("frame: payload does not parse")

	// ErrMissingRequired means the payload parses but lacks a field the
	// message marks required. The gate answers X.Res{code: RC_BAD_REQUEST}
	// and keeps the connection.
	ErrMissingRequired = errors.New("frame: required field missing")
)

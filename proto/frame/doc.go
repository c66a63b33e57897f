// Package frame is the TCP frame codec of the Hive protocol (PROTOCOL.md
// section 2), shared by the gate (server side) and the Go client SDK.
//
// A frame on the wire is
//
//	size u16 LE | api_size u16 LE | api | payload
//
// where size counts every byte after itself (2 + api_size + len(payload), at
// most 65535), api is the full protobuf name of the payload's message (for
// example "msg.GetItems.Req") and payload is that message in protobuf binary
// encoding (possibly empty).
//
// [Reader] splits a byte stream into frames without copying and without
// holding a buffer while the connection is idle; [Writer] batches frames and
// sends them with one Write. [Decode] and [Encode] map frames to the generated
// messages of package msg; [Validate] gives Decode's verdict on a payload
// without allocating; [Lookup], [IsRequest] and [ResponseAPI] answer
// questions about api names.
//
// Errors that mean the peer broke the framing ([ErrFrameTooShort],
// [ErrEmptyAPI], [ErrAPISize], [ErrFrameTooLarge], [ErrBadPayload]) are
// protocol violations: the caller closes that connection. [ErrUnknownAPI] and
// [ErrMissingRequired] are answered and the connection stays open.
package frame

const (
	// MaxSize is the largest value of a frame's size field: the number of
	// bytes after the size field itself (api_size, api and payload).
	MaxSize = 65535

	// HeaderSize is the number of bytes before the api: size and api_size,
	// two bytes each.
	HeaderSize = 4
)

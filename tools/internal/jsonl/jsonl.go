// Package jsonl is the output form the tools share: one JSON value per
// line, messages in protojson with the .proto field names.
package jsonl

import (
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protojson"
)

// Proto is the JSON form of messages in every tool's output: protojson
// with the field names of the .proto files (as PROTOCOL.md and jq scripts
// spell them).
var Proto = protojson.MarshalOptions{UseProtoNames: true, AllowPartial: true}

// Write writes b and a newline.
func Write(w io.Writer, b []byte) error {
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

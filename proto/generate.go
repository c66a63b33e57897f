// Package proto holds the .proto sources of the Hive protocol (def, msg) and
// events (evt), with their generated Go checked in beside them.
//
// Regenerate with `go generate ./proto/...` (needs protoc, Debian's
// protobuf-compiler); protoc-gen-go is built from the protobuf module version
// pinned in go.mod so the output does not depend on what is installed.
package proto

//go:generate go build -o .protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
//go:generate protoc --plugin=protoc-gen-go=.protoc-gen-go --go_out=. --go_opt=paths=source_relative def/def.proto msg/msg.proto evt/account.proto evt/player.proto
//go:generate rm -f .protoc-gen-go

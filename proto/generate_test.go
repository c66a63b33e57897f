package proto

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// protocLine is the //go:generate line that runs protoc.
var protocLine = regexp.MustCompile(`(?m)^//go:generate protoc (.*)$`)

// protocVersion matches the header line naming the protoc version, which
// differs between machines without the code differing.
var protocVersion = regexp.MustCompile(`(?m)^// \tprotoc .*$`)

// TestGeneratedCodeIsFresh regenerates the Go code of every .proto file that
// generate.go names into a temp dir, with protoc-gen-go built from go.mod's
// protobuf version, and fails if a checked-in *.pb.go differs: run
// `go generate ./proto/...` and commit the result. Skipped without protoc.
func TestGeneratedCodeIsFresh(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the protoc run")
	}
	protoc, err := exec.LookPath("protoc")
	if err != nil {
		t.Skip("protoc not on PATH (Debian: apt-get install protobuf-compiler); cannot check the generated code")
	}
	src, err := os.ReadFile("generate.go")
	if err != nil {
		t.Fatal(err)
	}
	m := protocLine.FindSubmatch(src)
	if m == nil {
		t.Fatal("generate.go has no //go:generate protoc line")
	}
	var protos []string
	for _, f := range strings.Fields(string(m[1])) {
		if strings.HasSuffix(f, ".proto") {
			protos = append(protos, f)
		}
	}
	if len(protos) == 0 {
		t.Fatal("the protoc line names no .proto file")
	}

	tmp := t.TempDir()
	plugin := filepath.Join(tmp, "protoc-gen-go")
	if out, err := exec.Command("go", "build", "-o", plugin, "google.golang.org/protobuf/cmd/protoc-gen-go").CombinedOutput(); err != nil {
		t.Fatalf("building protoc-gen-go: %v\n%s", err, out)
	}
	outDir := filepath.Join(tmp, "out")
	if err := os.Mkdir(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--plugin=protoc-gen-go=" + plugin, "--go_out=" + outDir, "--go_opt=paths=source_relative"}, protos...)
	if out, err := exec.Command(protoc, args...).CombinedOutput(); err != nil {
		t.Fatalf("protoc %v: %v\n%s", args, err, out)
	}
	for _, p := range protos {
		gen := strings.TrimSuffix(p, ".proto") + ".pb.go"
		want, err := os.ReadFile(filepath.Join(outDir, gen))
		if err != nil {
			t.Fatalf("protoc did not write %s: %v", gen, err)
		}
		have, err := os.ReadFile(gen)
		if err != nil {
			t.Errorf("%s is not checked in (run go generate ./proto/...): %v", gen, err)
			continue
		}
		if !bytes.Equal(protocVersion.ReplaceAll(want, nil), protocVersion.ReplaceAll(have, nil)) {
			t.Errorf("%s is stale: it differs from what %s generates; run `go generate ./proto/...` and commit", gen, p)
		}
	}
}

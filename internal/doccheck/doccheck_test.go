package doccheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// moduleRoot walks up from the package directory to the directory of go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the package directory")
		}
		dir = parent
	}
}

// The repository's own text: every link, image, markdown path and §
// reference resolves inside it.
func TestRepositoryReferencesResolve(t *testing.T) {
	root := moduleRoot(t)
	// This file's planted defects are the exception.
	files, err := Files(root, "internal/doccheck/doccheck_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, must := range []string{"README.md", "docs/DESIGN.md", "docs/PROTOCOL.md", "bus/subject.go"} {
		if !contains(files, must) {
			t.Fatalf("Files does not list %s: the check would read nothing (%d files)", must, len(files))
		}
	}
	problems, err := Check(root, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// plant writes files (path -> text) into a fresh directory standing for a
// repository and returns it.
func plant(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, text := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// docs are a DESIGN with sections 1 and 2 and a PROTOCOL with section 3 only.
var docs = map[string]string{
	"docs/DESIGN.md":     "# Design\n\n## 1. Processes\n\ntext, see §2\n\n## 2. Layout\n\n```\n## 7. not a heading: in a code block\n```\n",
	"docs/PROTOCOL.md":   "# Protocol\n\n## 3. REST API of uc (`/v1`)\n\nThe spec: [seed](seed/proto.md).\n",
	"docs/seed/proto.md": "# spec\n",
	"docs/img/arch.png":  "png",
}

// check plants docs plus name=text and returns the problems Check finds in name.
func check(t *testing.T, name, text string) []Problem {
	t.Helper()
	files := map[string]string{}
	for k, v := range docs {
		files[k] = v
	}
	files[name] = text // may replace a document
	root := plant(t, files)
	ps, err := Check(root, []string{name})
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// Each planted defect is found, on its line, and each good reference passes.
func TestCheckFindsPlantedDefects(t *testing.T) {
	bad := []struct {
		name, file, text string
		line             int
		why              string
	}{
		{"missing link target", "README.md", "# x\n\nThe [design](docs/DESIGNS.md).\n", 3, "docs/DESIGNS.md does not exist"},
		{"link outside the repository", "README.md", "See [the design](../elsewhere/DESIGN.md).\n", 1, "outside the repository"},
		{"missing image", "docs/seed/spec.md", "intro\n\n![](srv.png)\n", 3, "docs/seed/srv.png does not exist"},
		{"relative to the file, not the root", "docs/x.md", "[v](proto/frame/testdata/vectors.json)\n", 1, "does not exist"},
		{"reference definition", "README.md", "[d]: docs/nothing.md\n", 1, "does not exist"},
		{"html image", "README.md", "<img src=\"docs/img/none.png\">\n", 1, "does not exist"},
		{"missing anchor", "README.md", "[s](docs/DESIGN.md#9-nothing)\n", 1, "no heading with anchor #9-nothing"},
		{"absolute link", "README.md", "[s](/docs/DESIGN.md)\n", 1, "absolute path"},
		{"design section", "README.md", "one\ntwo\nAs DESIGN §8 says.\n", 3, "docs/DESIGN.md has no section 8"},
		{"section in a code block of the doc is no section", "gate/doc.go", "// Package gate (DESIGN §7).\npackage gate\n", 1, "no section 7"},
		{"protocol.md section", "uc/doc.go", "// The REST API of PROTOCOL.md §4.\npackage uc\n", 1, "docs/PROTOCOL.md has no section 4"},
		{"second of a list", "gate/doc.go", "// Package gate (DESIGN §1, §2, §6; PROTOCOL §3).\npackage gate\n", 1, "no section 6"},
		{"list across a line break", "BENCHMARKS.md", "Giving up DESIGN §1 and\n§5 would help.\n", 1, "no section 5"},
		{"section in words", "proto/def/def.proto", "// PROTOCOL.md section 5 and 6 is the contract.\n", 1, "no section 5"},
		{"sections in words", "x_test.go", "// following PROTOCOL.md sections 3 and 4\npackage x\n", 1, "no section 4"},
		{"bare section sign", "README.md", "as §2 says\n", 1, "names no document"},
		{"bare section in the doc itself", "docs/DESIGN.md", "## 1. One\n\nsee §3\n", 3, "docs/DESIGN.md has no section 3"},
		{"markdown path in prose", "README.md", "see `shared/DESIGN.md` or docs/DESIGN.md\n", 1, "no such file"},
		{"markdown path in a Go comment", "proto/frame/vectors_test.go", "// see shared/testdata/README.md\npackage frame\n", 1, "no such file"},
		{"markdown path climbing out", "cmd/hive/help.go", "package main\n\nconst help = \"the contract: ../elsewhere/PROTOCOL.md\"\n", 3, "no such file"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			ps := check(t, b.file, b.text)
			found := false
			for _, p := range ps {
				if p.Line == b.line && strings.Contains(p.Why, b.why) && p.File == b.file {
					found = true
				}
			}
			if !found {
				t.Errorf("%s:\n%s\nproblems %v; want one on line %d saying %q", b.file, b.text, ps, b.line, b.why)
			}
		})
	}

	good := []struct{ name, file, text string }{
		{"links that resolve", "README.md", "[d](docs/DESIGN.md), [p](./docs/PROTOCOL.md#3-rest-api-of-uc-v1), ![a](docs/img/arch.png), [web](https://example.com/x.md), [mail](mailto:a@b.c)\n"},
		{"link text that is no path", "README.md", "the spec, [seed/proto.md](docs/seed/proto.md)\n"},
		{"link from docs", "docs/x.md", "[spec](seed/proto.md) and [design](DESIGN.md#1-processes) and [self](#x)\n\n## x\n"},
		{"sections that exist", "gate/doc.go", "// Package gate (DESIGN §1, §2; PROTOCOL §3). DESIGN.md §2, PROTOCOL.md section 3.\npackage gate\n"},
		{"examples in code blocks", "README.md", "```\n[x](nowhere.md) DESIGN §9\n```\n"},
		{"code spans are not links", "README.md", "`[.time[0:13], .type](x)` and `a[i](j)`\n"},
		{"paths that exist", "proto/def/def.proto", "// numbers from the original spec (docs/seed/proto.md); https://github.com/x/y/README.md, github.com/x/y/README.md\n"},
	}
	for _, g := range good {
		t.Run(g.name, func(t *testing.T) {
			if ps := check(t, g.file, g.text); len(ps) != 0 {
				t.Errorf("%s:\n%s\nproblems %v; want none", g.file, g.text, ps)
			}
		})
	}
}

// A missing contract is itself a problem for every reference to it.
func TestCheckMissingDocument(t *testing.T) {
	root := plant(t, map[string]string{"README.md": "as DESIGN §1 says\n"})
	ps, err := Check(root, []string{"README.md"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 || !strings.Contains(ps[0].Why, "docs/DESIGN.md does not exist") {
		t.Fatalf("problems %v; want one saying docs/DESIGN.md does not exist", ps)
	}
}

// Files reads the extensions checked and nothing under a skipped directory,
// a skipped file or a hidden directory (outside git).
func TestFiles(t *testing.T) {
	root := plant(t, map[string]string{
		"README.md": "", "a/b.go": "", "c.proto": "", "compose.yaml": "", "x.txt": "",
		".hidden/d.md": "", "skip/e.md": "", "skipped.md": "", "skipped.md.go": "",
	})
	files, err := Files(root, "skip", "skipped.md")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(files, " "), "README.md a/b.go c.proto compose.yaml skipped.md.go"; got != want {
		t.Fatalf("Files = %q, want %q", got, want)
	}
}

func TestAnchor(t *testing.T) {
	for title, want := range map[string]string{
		"1. Processes": "1-processes",
		"3. Subjects (a public contract: analytics consumers depend on it)": "3-subjects-a-public-contract-analytics-consumers-depend-on-it",
		"Running a cluster: `docker compose up`":                            "running-a-cluster-docker-compose-up",
	} {
		if got := Anchor(title); got != want {
			t.Errorf("Anchor(%q) = %q, want %q", title, got, want)
		}
	}
}

// Package doccheck finds references in the repository's text that point
// nowhere: a relative markdown link or image whose file does not exist (or
// lies outside the repository), a link to a heading the target document does
// not have, a path to a .md file named in a comment that does not exist, and a
// "DESIGN §N" or "PROTOCOL §N" whose section the document does not have.
//
// The contracts are docs/DESIGN.md and docs/PROTOCOL.md; their sections are
// the "## N. Title" headings. A newcomer follows these references, so a
// renamed file or a renumbered section must break a test, not a reader.
package doccheck

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Docs maps the names a § reference may use to the documents they mean,
// relative to the repository root.
var Docs = map[string]string{
	"DESIGN":   "docs/DESIGN.md",
	"PROTOCOL": "docs/PROTOCOL.md",
}

// Checked lists the file extensions whose text is checked.
var Checked = []string{".md", ".go", ".proto", ".yaml", ".yml"}

// Problem is one reference that points nowhere.
type Problem struct {
	File string // relative to the root, with forward slashes
	Line int    // 1-based
	Ref  string // the reference as written
	Why  string
}

// String is "file:line: ref: why", the form editors jump to.
func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Ref, p.Why)
}

// Files lists the files under root that Check reads: the repository's
// tracked and untracked-but-not-ignored files when root is a git work tree
// (so a local ./data or build output is not read), otherwise every file
// outside hidden directories. skip lists root-relative directories to leave
// out, or files (planted bad input of tests, for instance).
func Files(root string, skip ...string) ([]string, error) {
	var all []string
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err == nil {
		for _, f := range bytes.Split(out, []byte{0}) {
			if len(f) > 0 {
				all = append(all, string(f))
			}
		}
	} else {
		err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && p != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if !d.IsDir() {
				rel, _ := filepath.Rel(root, p)
				all = append(all, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	var files []string
	for _, f := range all {
		if !checked(f) || skipped(f, skip) {
			continue
		}
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			continue // deleted in the work tree, not yet in the index
		}
		files = append(files, f)
	}
	sort.Strings(files)
	return files, nil
}

func checked(f string) bool {
	for _, ext := range Checked {
		if strings.HasSuffix(f, ext) {
			return true
		}
	}
	return false
}

func skipped(f string, skip []string) bool {
	for _, s := range skip {
		s = strings.TrimSuffix(filepath.ToSlash(s), "/")
		if f == s || strings.HasPrefix(f, s+"/") {
			return true
		}
	}
	return false
}

// Check reads files (root-relative, forward slashes) and returns every
// reference in them that points nowhere.
func Check(root string, files []string) ([]Problem, error) {
	c := &checker{root: root, headings: map[string]map[string]bool{}}
	sections := map[string]map[int]bool{}
	for name, doc := range Docs {
		s, err := c.sections(doc)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		sections[name] = s // nil when the document is missing
	}
	var problems []Problem
	for _, f := range files {
		text, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			return nil, err
		}
		problems = append(problems, c.file(f, string(text), sections)...)
	}
	return problems, nil
}

type checker struct {
	root     string
	headings map[string]map[string]bool // doc -> heading anchors
}

var (
	// DESIGN §4, PROTOCOL.md §2, §4 and §6; the list continues while only
	// separators stand between the § signs.
	sectionRef = regexp.MustCompile(`\b(DESIGN|PROTOCOL)(?:\.md)?[ \t\n]*§[ \t]*(\d+)((?:[ \t\n]*(?:,|;|/|&|and|or)?[ \t\n]*§[ \t]*\d+)*)`)
	// PROTOCOL.md section 2, PROTOCOL sections 5 and 6.
	sectionWordRef = regexp.MustCompile(`\b(DESIGN|PROTOCOL)(?:\.md)?,?[ \t\n]+[Ss]ections?[ \t\n]+(\d+)((?:[ \t\n]*(?:,|and|or)[ \t\n]*\d+)*)`)
	number         = regexp.MustCompile(`\d+`)
	bareSection    = regexp.MustCompile(`§[ \t]*\d+`)
	// [text](target "title") and ![alt](target); the target has no spaces.
	mdLink = regexp.MustCompile(`!?\[[^\]\n]*\]\(<?([^)\s>]+)>?(?:[ \t]+"[^"]*")?\)`)
	// [label]: target
	mdRefDef = regexp.MustCompile(`(?m)^[ \t]{0,3}\[[^\]\n]+\]:[ \t]*<?([^\s>]+)>?`)
	// src="..." and href="..." of inline HTML.
	htmlRef = regexp.MustCompile(`\b(?:src|href)="([^"]+)"`)
	// docs/seed/proto.md, ../../docs/DESIGN.md: a path to a markdown file.
	mdPath   = regexp.MustCompile(`(?:[\w.-]+/)+[\w.-]+\.md\b`)
	heading  = regexp.MustCompile(`^#{1,6}[ \t]+(.*?)[ \t#]*$`)
	fence    = regexp.MustCompile("^[ \t]{0,3}(```|~~~)")
	numbered = regexp.MustCompile(`^##[ \t]+(\d+)\.`)
)

// file checks one file's text.
func (c *checker) file(name, text string, sections map[string]map[int]bool) []Problem {
	var ps []Problem
	add := func(off int, ref, why string) {
		ps = append(ps, Problem{File: name, Line: 1 + strings.Count(text[:off], "\n"), Ref: ref, Why: why})
	}
	isMD := strings.HasSuffix(name, ".md")
	prose := text
	if isMD {
		prose = blankFences(text) // examples in code blocks are not references
	}

	// § references.
	covered := make([]bool, len(prose)+1)
	checkNums := func(m []int) {
		doc := prose[m[2]:m[3]]
		ref := prose[m[0]:m[1]]
		for i := m[0]; i < m[1]; i++ {
			covered[i] = true
		}
		s := sections[doc]
		for _, n := range number.FindAllString(prose[m[4]:m[1]], -1) {
			num, _ := strconv.Atoi(n)
			switch {
			case s == nil:
				add(m[0], ref, Docs[doc]+" does not exist")
			case !s[num]:
				add(m[0], ref, fmt.Sprintf("%s has no section %d (no heading \"## %d.\")", Docs[doc], num, num))
			}
		}
	}
	for _, m := range sectionRef.FindAllStringSubmatchIndex(prose, -1) {
		checkNums(m)
	}
	for _, m := range sectionWordRef.FindAllStringSubmatchIndex(prose, -1) {
		checkNums(m)
	}
	self := ""
	for doc, file := range Docs {
		if file == name {
			self = doc
		}
	}
	for _, m := range bareSection.FindAllStringIndex(prose, -1) {
		if covered[m[0]] {
			continue
		}
		ref := prose[m[0]:m[1]]
		if self == "" {
			add(m[0], ref, "names no document: write DESIGN §N or PROTOCOL §N")
			continue
		}
		num, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(ref, "§")))
		if s := sections[self]; !s[num] {
			add(m[0], ref, fmt.Sprintf("%s has no section %d", name, num))
		}
	}

	// Markdown links, images and HTML src/href.
	if isMD {
		prose := blankCodeSpans(prose)
		for _, re := range []*regexp.Regexp{mdLink, mdRefDef, htmlRef} {
			for _, m := range re.FindAllStringSubmatchIndex(prose, -1) {
				target := prose[m[2]:m[3]]
				if why := c.link(name, target); why != "" {
					add(m[0], prose[m[0]:m[1]], why)
				}
			}
		}
	}

	// Paths to markdown files named in prose, comments and code (outside
	// links: a link's text need not be a path, its target is checked above).
	if isMD {
		prose = mdLink.ReplaceAllStringFunc(prose, func(l string) string { return strings.Repeat(" ", len(l)) })
	}
	for _, m := range mdPath.FindAllStringIndex(prose, -1) {
		p := prose[m[0]:m[1]]
		if m[0] >= 3 && prose[m[0]-3:m[0]] == "://" {
			continue // part of a URL
		}
		if first := strings.SplitN(p, "/", 2)[0]; first != "." && first != ".." && strings.Contains(first, ".") {
			continue // a host name: github.com/...
		}
		if why := c.path(name, p); why != "" {
			add(m[0], p, why)
		}
	}
	return ps
}

// link checks one link target written in file name; "" when it resolves.
func (c *checker) link(name, target string) string {
	if i := strings.Index(target, ":"); i > 0 && !strings.ContainsAny(target[:i], "/#.") {
		return "" // a URL (https:, mailto:)
	}
	if strings.HasPrefix(target, "//") {
		return ""
	}
	file, frag, _ := strings.Cut(target, "#")
	file, _, _ = strings.Cut(file, "?")
	resolved := name
	if file != "" {
		if strings.HasPrefix(file, "/") {
			return "an absolute path: links are relative to the file"
		}
		resolved = path.Clean(path.Join(path.Dir(name), file))
		if resolved == ".." || strings.HasPrefix(resolved, "../") {
			return "outside the repository"
		}
		if _, err := os.Stat(filepath.Join(c.root, filepath.FromSlash(resolved))); err != nil {
			return resolved + " does not exist"
		}
	}
	if frag != "" && strings.HasSuffix(resolved, ".md") {
		h, err := c.anchors(resolved)
		if err != nil {
			return err.Error()
		}
		if !h[frag] {
			return fmt.Sprintf("%s has no heading with anchor #%s", resolved, frag)
		}
	}
	return ""
}

// path checks a path to a markdown file named in file name: it must exist
// relative to that file or to the root.
func (c *checker) path(name, p string) string {
	for _, cand := range []string{path.Join(path.Dir(name), p), p} {
		cand = path.Clean(cand)
		if cand == ".." || strings.HasPrefix(cand, "../") {
			continue
		}
		if _, err := os.Stat(filepath.Join(c.root, filepath.FromSlash(cand))); err == nil {
			return ""
		}
	}
	return "no such file in the repository"
}

// sections returns the numbers of doc's "## N." headings.
func (c *checker) sections(doc string) (map[int]bool, error) {
	text, err := os.ReadFile(filepath.Join(c.root, filepath.FromSlash(doc)))
	if err != nil {
		return nil, err
	}
	s := map[int]bool{}
	for _, l := range strings.Split(blankFences(string(text)), "\n") {
		if m := numbered.FindStringSubmatch(l); m != nil {
			n, _ := strconv.Atoi(m[1])
			s[n] = true
		}
	}
	return s, nil
}

// anchors returns the heading anchors of a markdown file, as GitHub makes
// them: lower case, punctuation dropped, spaces to dashes.
func (c *checker) anchors(doc string) (map[string]bool, error) {
	if h, ok := c.headings[doc]; ok {
		return h, nil
	}
	text, err := os.ReadFile(filepath.Join(c.root, filepath.FromSlash(doc)))
	if err != nil {
		return nil, err
	}
	h := map[string]bool{}
	for _, l := range strings.Split(blankFences(string(text)), "\n") {
		if m := heading.FindStringSubmatch(l); m != nil {
			h[Anchor(m[1])] = true
		}
	}
	c.headings[doc] = h
	return h, nil
}

// Anchor is the anchor GitHub gives a heading's text.
func Anchor(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// blankFences replaces the lines of fenced code blocks with empty lines,
// keeping the line count.
func blankFences(text string) string {
	lines := strings.Split(text, "\n")
	in := ""
	for i, l := range lines {
		if m := fence.FindStringSubmatch(l); m != nil {
			switch {
			case in == "":
				in = m[1]
			case in == m[1]:
				in = ""
			}
			lines[i] = ""
			continue
		}
		if in != "" {
			lines[i] = ""
		}
	}
	return strings.Join(lines, "\n")
}

// blankCodeSpans replaces `inline code` with spaces, keeping offsets.
func blankCodeSpans(text string) string {
	b := []byte(text)
	for i := 0; i < len(b); i++ {
		if b[i] != '`' || (i > 0 && b[i-1] == '\\') {
			continue
		}
		j := i + 1
		for j < len(b) && b[j] != '`' && b[j] != '\n' {
			j++
		}
		if j < len(b) && b[j] == '`' {
			for k := i; k <= j; k++ {
				b[k] = ' '
			}
			i = j
		}
	}
	return string(b)
}

package game

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// The game data file is JSON, every section optional (an absent one keeps
// the built-in default):
//
//	{
//	  "start": [{"idx": 100, "num": 1000}],
//	  "items": [{"idx": 100, "name": "gold", "giftable": true, "stack_limit": 0}],
//	  "usage": [{"idx": 102, "grant": [{"idx": 100, "num": 100}]}]
//	}
//
// "start" are the items of a new player, "items" the item table, "usage" the
// item-usage table (using one item of idx grants "grant").

// DataError is a problem in the game data file, at a line (0 = the file as a whole).
type DataError struct {
	File string
	Line int
	Msg  string
}

func (e *DataError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("game data %s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("game data %s: %s", e.File, e.Msg)
}

// LoadData reads and validates the game data file.
func LoadData(path string) (*Data, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("game data: %w", err)
	}
	return ParseData(path, b)
}

// ParseData parses and validates game data; name is used in errors. Every
// error is a *DataError naming the line of the offending entry.
func ParseData(name string, b []byte) (*Data, error) {
	p := &dataParser{name: name, src: b, dec: json.NewDecoder(bytes.NewReader(b))}
	p.dec.DisallowUnknownFields()
	return p.parse()
}

type dataParser struct {
	name string
	src  []byte
	dec  *json.Decoder
}

// lineAt is the 1-based line of byte offset off.
func (p *dataParser) lineAt(off int64) int {
	if off > int64(len(p.src)) {
		off = int64(len(p.src))
	}
	return bytes.Count(p.src[:off], []byte("\n")) + 1
}

// nextOffset is where the next value starts (past spaces and commas).
func (p *dataParser) nextOffset() int64 {
	off := p.dec.InputOffset()
	for off < int64(len(p.src)) && bytes.IndexByte([]byte(" \t\r\n,:"), p.src[off]) >= 0 {
		off++
	}
	return off
}

// nextLine is the line where the next value starts.
func (p *dataParser) nextLine() int { return p.lineAt(p.nextOffset()) }

func (p *dataParser) errAt(line int, format string, a ...any) error {
	return &DataError{File: p.name, Line: line, Msg: fmt.Sprintf(format, a...)}
}

// jsonErr turns a decoder error into a DataError at its line; start is
// where the value being decoded starts (type error offsets count from it).
func (p *dataParser) jsonErr(err error, start int64) error {
	line := p.lineAt(start)
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return p.errAt(p.lineAt(se.Offset), "%v", err)
	case errors.As(err, &te):
		return p.errAt(p.lineAt(start+te.Offset), "%v", err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return p.errAt(p.lineAt(int64(len(p.src))), "unexpected end of file")
	}
	return p.errAt(line, "%v", err)
}

func (p *dataParser) delim(want json.Delim) error {
	start := p.nextOffset()
	line := p.lineAt(start)
	t, err := p.dec.Token()
	if err != nil {
		return p.jsonErr(err, start)
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return p.errAt(line, "expected %q, found %v", want, t)
	}
	return nil
}

// array decodes each element of a JSON array with fn, given its line.
func array[T any](p *dataParser, fn func(T, int) error) error {
	if err := p.delim('['); err != nil {
		return err
	}
	for p.dec.More() {
		start := p.nextOffset()
		var v T
		if err := p.dec.Decode(&v); err != nil {
			return p.jsonErr(err, start)
		}
		if err := fn(v, p.lineAt(start)); err != nil {
			return err
		}
	}
	return p.delim(']')
}

func (p *dataParser) parse() (*Data, error) {
	def := DefaultData()
	d := &Data{Items: map[int32]ItemDef{}, Usage: map[int32]Usage{}}
	var startLines, usageLines []int
	var start []Amount
	var usage []Usage
	seen := map[string]bool{}
	if err := p.delim('{'); err != nil {
		return nil, err
	}
	for p.dec.More() {
		off := p.nextOffset()
		line := p.lineAt(off)
		t, err := p.dec.Token()
		if err != nil {
			return nil, p.jsonErr(err, off)
		}
		key, _ := t.(string)
		if seen[key] {
			return nil, p.errAt(line, "section %q given twice", key)
		}
		seen[key] = true
		switch key {
		case "start":
			err = array(p, func(a Amount, line int) error {
				start = append(start, a)
				startLines = append(startLines, line)
				return nil
			})
		case "items":
			err = array(p, func(it ItemDef, line int) error {
				switch {
				case it.Idx <= 0:
					return p.errAt(line, "item idx must be > 0, got %d", it.Idx)
				case it.Name == "":
					return p.errAt(line, "item %d has no name", it.Idx)
				case it.StackLimit < 0 || it.StackLimit > MaxStack:
					return p.errAt(line, "item %d: stack_limit must be 0..%d (0 = the largest, %d), got %d", it.Idx, MaxStack, MaxStack, it.StackLimit)
				}
				if _, dup := d.Items[it.Idx]; dup {
					return p.errAt(line, "item idx %d listed twice", it.Idx)
				}
				d.Items[it.Idx] = it
				return nil
			})
		case "usage":
			err = array(p, func(u Usage, line int) error {
				usage = append(usage, u)
				usageLines = append(usageLines, line)
				return nil
			})
		default:
			return nil, p.errAt(line, "unknown section %q (want start, items, usage)", key)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := p.delim('}'); err != nil {
		return nil, err
	}
	if p.dec.More() {
		return nil, p.errAt(p.nextLine(), "data after the closing brace")
	}
	// Absent sections keep the defaults; present ones are checked against
	// the item table in force.
	if !seen["items"] {
		d.Items = def.Items
	}
	if !seen["start"] {
		start, startLines = def.Start, make([]int, len(def.Start))
	}
	if !seen["usage"] {
		for _, u := range def.Usage {
			usage, usageLines = append(usage, u), append(usageLines, 0)
		}
	}
	for i, a := range start {
		it, ok := d.Items[a.Idx]
		switch {
		case !ok:
			return nil, p.errAt(startLines[i], "starting item %d is not in the item table", a.Idx)
		case a.Num <= 0:
			return nil, p.errAt(startLines[i], "starting item %d: num must be > 0, got %d", a.Idx, a.Num)
		case it.StackLimit > 0 && a.Num > it.StackLimit:
			return nil, p.errAt(startLines[i], "starting item %d: %d is over its stack_limit %d", a.Idx, a.Num, it.StackLimit)
		}
	}
	merged, ok := sumAmounts(d, start)
	if !ok {
		return nil, p.errAt(startLines[0], "starting items: an amount (or the sum of one item's amounts) is over the item's largest amount (stack_limit, at most %d)", MaxStack)
	}
	d.Start = merged
	for i, u := range usage {
		line := usageLines[i]
		if _, ok := d.Items[u.Idx]; !ok {
			return nil, p.errAt(line, "usage of item %d, which is not in the item table", u.Idx)
		}
		if _, dup := d.Usage[u.Idx]; dup {
			return nil, p.errAt(line, "usage of item %d listed twice", u.Idx)
		}
		if len(u.Grant) == 0 {
			return nil, p.errAt(line, "usage of item %d grants nothing", u.Idx)
		}
		for _, g := range u.Grant {
			if _, ok := d.Items[g.Idx]; !ok {
				return nil, p.errAt(line, "usage of item %d grants item %d, which is not in the item table", u.Idx, g.Idx)
			}
			if g.Num <= 0 {
				return nil, p.errAt(line, "usage of item %d grants %d of item %d: num must be > 0", u.Idx, g.Num, g.Idx)
			}
		}
		if _, ok := sumAmounts(d, u.Grant); !ok {
			return nil, p.errAt(line, "usage of item %d grants more of an item than its largest amount (stack_limit, at most %d)", u.Idx, MaxStack)
		}
		d.Usage[u.Idx] = u
	}
	return d, nil
}

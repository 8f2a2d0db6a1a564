// Package daemonjson edits the insecure-registries list of Docker's
// daemon.json with the smallest change to the file: other keys, their
// order, their values' bytes and the file's indentation stay as they are.
package daemonjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

const insecureKey = "insecure-registries"

// defaultIndent indents a newly created file or object. Docker's page
// "Test an insecure registry" shows daemon.json indented by two spaces.
const defaultIndent = "  "

// MergeInsecure adds and removes registries in the insecure-registries list
// of the daemon.json content orig. A nil orig means the file does not exist:
// it is created when there is something to add. Entries are compared after
// [NormalizeRegistry]. Existing entries keep their order and spelling, new
// ones are appended once, and removing every entry writes an empty list,
// because a dockerd reload (SIGHUP) keeps the old list when the key is
// missing.
//
// When nothing changes, MergeInsecure returns orig itself and false, so an
// equal file is never rewritten. It returns an error, and the caller must
// leave the file alone, for an empty file, invalid JSON, several top-level
// values, a top-level value that is not an object, and an
// insecure-registries value that is not a list of strings.
func MergeInsecure(orig []byte, add []string, remove []string) (out []byte, changed bool, err error) {
	adding, removing, err := normalizeRequest(add, remove)
	if err != nil {
		return nil, false, err
	}
	if orig == nil {
		if len(adding) == 0 {
			return nil, false, nil
		}
		value := renderInline(adding, ", ")
		return []byte("{\n" + defaultIndent + quote(insecureKey) + ": " + value + "\n}\n"), true, nil
	}

	doc, err := parse(orig)
	if err != nil {
		return nil, false, fmt.Errorf("parse daemon.json: %w", err)
	}
	current, err := doc.insecureList()
	if err != nil {
		return nil, false, fmt.Errorf("parse daemon.json: %w", err)
	}
	merged := mergeEntries(current, adding, removing)
	if doc.insecure == nil && len(adding) == 0 {
		// Removing from an absent list: nothing to write.
		return orig, false, nil
	}
	if doc.insecure != nil && slices.Equal(merged, current) {
		return orig, false, nil
	}
	return doc.withInsecure(merged), true, nil
}

// normalizeRequest normalises the entries to add and to remove, drops
// repeats and rejects an entry that is in both lists.
func normalizeRequest(add, remove []string) (adding, removing []string, err error) {
	if adding, err = normalizeAll(add); err != nil {
		return nil, nil, err
	}
	if removing, err = normalizeAll(remove); err != nil {
		return nil, nil, err
	}
	for _, a := range adding {
		if slices.Contains(removing, a) {
			return nil, nil, fmt.Errorf("registry %q is both added to and removed from insecure-registries; keep it in one list", a)
		}
	}
	return adding, removing, nil
}

func normalizeAll(entries []string) ([]string, error) {
	var out []string
	for _, e := range entries {
		n, err := NormalizeRegistry(e)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// mergeEntries drops the removed entries from current and appends the
// added ones that are not there yet. Entries that do not normalise are
// compared as written.
func mergeEntries(current, adding, removing []string) []string {
	merged := []string{}
	present := map[string]bool{}
	for _, e := range current {
		key := comparisonKey(e)
		if slices.Contains(removing, key) {
			continue
		}
		merged = append(merged, e)
		present[key] = true
	}
	for _, a := range adding {
		if !present[a] {
			merged = append(merged, a)
			present[a] = true
		}
	}
	return merged
}

func comparisonKey(entry string) string {
	if n, err := NormalizeRegistry(entry); err == nil {
		return n
	}
	return strings.TrimSpace(entry)
}

// document is a parsed daemon.json: the original bytes and the offsets of
// the top-level object and its members.
type document struct {
	data []byte
	// objectStart and objectEnd are the offsets of "{" and just past "}".
	objectStart, objectEnd int
	members                []member
	// insecure is the insecure-registries member, or nil when it is absent.
	insecure *member
}

// member is one key of the top-level object. Offsets index document.data.
type member struct {
	key                  string
	keyStart, keyEnd     int
	valueStart, valueEnd int
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

func parse(data []byte) (*document, error) {
	if bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) {
		return nil, errors.New("file is UTF-16; save it as UTF-8 and run again")
	}
	// dockerd skips a UTF-8 byte order mark, so it is kept and skipped here.
	skip := 0
	if bytes.HasPrefix(data, utf8BOM) {
		skip = len(utf8BOM)
	}
	body := data[skip:]
	if len(bytes.TrimSpace(body)) == 0 {
		// NOTE: dockerd releases differ on an empty file (some refuse to
		// start, current ones read it as no settings), so a person decides.
		return nil, errors.New("file is empty; write {} into it or delete it, then run again")
	}

	dec := json.NewDecoder(bytes.NewReader(body))
	var top json.RawMessage
	if err := dec.Decode(&top); err != nil {
		return nil, syntaxError(body)
	}
	var next json.RawMessage
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, fmt.Errorf("file has several top-level values (a second one starts at %s); merge them into one object", position(body, int(dec.InputOffset())-len(next)))
	case err != io.EOF:
		return nil, syntaxError(body)
	}
	if top[0] != '{' {
		return nil, fmt.Errorf("top-level value is %s, but dockerd needs an object ({...}); fix the file by hand", describeJSON(top))
	}

	doc := &document{data: data}
	if err := doc.index(body, skip); err != nil {
		return nil, err
	}
	return doc, nil
}

// index records the offsets of the object and its members. body is valid
// JSON that holds one object, and offsets in body are shifted by skip.
func (d *document) index(body []byte, skip int) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		return err
	}
	d.objectStart = skip + int(dec.InputOffset()) - 1
	for dec.More() {
		afterPrevious := int(dec.InputOffset())
		token, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := token.(string)
		keyEnd := int(dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		valueEnd := int(dec.InputOffset())
		m := member{
			key:        key,
			keyStart:   skip + afterPrevious + bytes.IndexByte(body[afterPrevious:keyEnd], '"'),
			keyEnd:     skip + keyEnd,
			valueStart: skip + valueEnd - len(raw),
			valueEnd:   skip + valueEnd,
		}
		d.members = append(d.members, m)
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	d.objectEnd = skip + int(dec.InputOffset())

	for i := range d.members {
		if d.members[i].key != insecureKey {
			continue
		}
		if d.insecure != nil {
			return fmt.Errorf("key %q appears twice; keep one and run again", insecureKey)
		}
		d.insecure = &d.members[i]
	}
	return nil
}

// insecureList returns the current insecure-registries entries, or nil when
// the key is absent.
func (d *document) insecureList() ([]string, error) {
	if d.insecure == nil {
		return nil, nil
	}
	raw := d.data[d.insecure.valueStart:d.insecure.valueEnd]
	if raw[0] != '[' {
		return nil, fmt.Errorf("%q is %s, but dockerd needs a list of strings; fix the file by hand", insecureKey, describeJSON(raw))
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("read %q: %w", insecureKey, err)
	}
	entries := []string{}
	for i, item := range items {
		var s string
		if item[0] != '"' || json.Unmarshal(item, &s) != nil {
			return nil, fmt.Errorf("%q item %d is %s, but dockerd needs a string; fix the file by hand", insecureKey, i+1, describeJSON(item))
		}
		entries = append(entries, s)
	}
	return entries, nil
}

// syntaxError locates the first syntax error in body by line and column.
func syntaxError(body []byte) error {
	var v any
	err := json.Unmarshal(body, &v)
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		// Offset counts the bytes read up to and including the bad one, and
		// all bytes when the input ends early.
		offset := int(syntax.Offset)
		if !strings.Contains(syntax.Error(), "unexpected end of JSON input") {
			offset--
		}
		return fmt.Errorf("invalid JSON at %s: %s; fix the file by hand", position(body, offset), syntax.Error())
	}
	return fmt.Errorf("invalid JSON: %v; fix the file by hand", err)
}

// position formats a byte offset of body as 1-based line and column.
func position(body []byte, offset int) string {
	offset = max(0, min(offset, len(body)))
	before := body[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	column := offset - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d", line, column)
}

func describeJSON(raw []byte) string {
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

package daemonjson

import (
	"bytes"
	"encoding/json"
	"strings"
)

// withInsecure returns a copy of the document with insecure-registries set
// to entries. Only the list's bytes change, or a member is inserted after
// the last one, in the layout the file already uses.
func (d *document) withInsecure(entries []string) []byte {
	newline := "\n"
	if bytes.Contains(d.data, []byte("\r\n")) {
		newline = "\r\n"
	}
	if d.insecure != nil {
		oldValue := d.data[d.insecure.valueStart:d.insecure.valueEnd]
		return splice(d.data, d.insecure.valueStart, d.insecure.valueEnd, d.renderList(entries, oldValue, newline))
	}
	if len(d.members) == 0 {
		object := "{" + newline + defaultIndent + quote(insecureKey) + ": " + renderInline(entries, ", ") + newline + "}"
		return splice(d.data, d.objectStart, d.objectEnd, object)
	}

	// Copy the colon spacing of the first member and the separator between
	// members: a newline and the members' indentation, or the spacing of a
	// one-line object.
	first, last := d.members[0], d.members[len(d.members)-1]
	colon := string(d.data[first.keyEnd:first.valueStart])
	if strings.ContainsAny(colon, "\r\n") {
		colon = ": "
	}
	compact := !strings.Contains(colon, " ")
	listSeparator := ", "
	if compact {
		listSeparator = ","
	}
	separator := listSeparator
	if indent, ok := d.memberIndent(); ok {
		separator = "," + newline + indent
	}
	inserted := separator + quote(insecureKey) + colon + renderInline(entries, listSeparator)
	return splice(d.data, last.valueEnd, last.valueEnd, inserted)
}

// memberIndent returns the white space before the first top-level key that
// starts a line, which is the file's indentation unit. ok is false for a
// one-line object.
func (d *document) memberIndent() (indent string, ok bool) {
	previousEnd := d.objectStart + 1
	for _, m := range d.members {
		gap := d.data[previousEnd:m.keyStart]
		if i := bytes.LastIndexByte(gap, '\n'); i >= 0 {
			return string(gap[i+1:]), true
		}
		previousEnd = m.valueEnd
	}
	return "", false
}

// renderList formats entries as a JSON list in the layout of oldValue: on
// one line, or one entry a line with the old entry and bracket indentation.
func (d *document) renderList(entries []string, oldValue []byte, newline string) string {
	if len(entries) == 0 {
		return "[]"
	}
	if !bytes.Contains(oldValue, []byte("\n")) {
		separator := ", "
		if bytes.Contains(oldValue, []byte(`",`)) && !bytes.Contains(oldValue, []byte(`", `)) {
			separator = ","
		}
		return renderInline(entries, separator)
	}

	closingIndent := ""
	if i := bytes.LastIndexByte(oldValue, '\n'); i >= 0 {
		closingIndent = leadingBlanks(oldValue[i+1:])
	}
	entryIndent := ""
	afterBreak := oldValue[bytes.IndexByte(oldValue, '\n')+1:]
	if blanks := leadingBlanks(afterBreak); strings.HasPrefix(string(afterBreak[len(blanks):]), `"`) {
		entryIndent = blanks
	} else {
		unit, ok := d.memberIndent()
		if !ok || unit == "" {
			unit = defaultIndent
		}
		entryIndent = closingIndent + unit
	}

	var b strings.Builder
	b.WriteString("[")
	for i, e := range entries {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(newline + entryIndent + quote(e))
	}
	b.WriteString(newline + closingIndent + "]")
	return b.String()
}

func renderInline(entries []string, separator string) string {
	quoted := make([]string, len(entries))
	for i, e := range entries {
		quoted[i] = quote(e)
	}
	return "[" + strings.Join(quoted, separator) + "]"
}

func leadingBlanks(b []byte) string {
	n := 0
	for n < len(b) && (b[n] == ' ' || b[n] == '\t') {
		n++
	}
	return string(b[:n])
}

// quote encodes s as a JSON string, leaving <, > and & as they are.
func quote(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // encoding a string cannot fail
	return strings.TrimSuffix(b.String(), "\n")
}

func splice(data []byte, start, end int, insert string) []byte {
	out := make([]byte, 0, len(data)-(end-start)+len(insert))
	out = append(out, data[:start]...)
	out = append(out, insert...)
	return append(out, data[end:]...)
}

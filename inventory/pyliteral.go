package inventory

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// INI inventories store values as text, and Ansible's ini plugin turns
// each value into a Python object with ast.literal_eval, keeping the text
// as a string when that fails. parseINIValue does the same for the
// literal forms that occur in inventories, so that port=22 is a number,
// debug=True is a boolean and ntp=['a', 'b'] is a list.
//
// Values map to Go types as follows. Integers that fit in 64 bits become
// int, and larger ones stay strings. Floats become float64, True and
// False bool, None nil, and strings string. Lists, tuples and sets become
// []any. Dicts become map[string]any, with non-string keys written as
// Python prints them.
// Lowercase true and false are not Python literals, so they stay strings,
// as they do in Ansible; Host.BoolVar accepts both.
func parseINIValue(text string) any {
	p := &pyParser{src: strings.TrimLeft(text, " \t")}
	v, err := p.parseLiteral()
	if err != nil {
		return text
	}
	return v
}

// maxLiteralDepth bounds nesting of lists, tuples and dicts, like the
// recursion limit that stops Python's parser.
const maxLiteralDepth = 100

// pyParser reads one Python literal expression from src.
type pyParser struct {
	src   string
	pos   int
	depth int
}

var errNotLiteral = errors.New("not a Python literal")

func (p *pyParser) parseLiteral() (any, error) {
	v, err := p.expression()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.src) {
		return nil, errNotLiteral
	}
	return v, nil
}

// skipSpace skips white space and a comment, which Python's tokenizer
// also ignores, so "8080 # web port" reads as 8080.
func (p *pyParser) skipSpace() {
	for p.pos < len(p.src) {
		switch p.src[p.pos] {
		case ' ', '\t', '\f', '\r', '\n':
			p.pos++
		case '#':
			p.pos = len(p.src)
		default:
			return
		}
	}
}

func (p *pyParser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *pyParser) expression() (any, error) {
	p.skipSpace()
	c := p.peek()
	switch {
	case c == '+' || c == '-':
		p.pos++
		p.skipSpace()
		if !startsNumber(p.src[p.pos:]) {
			return nil, errNotLiteral
		}
		v, err := p.number()
		if err != nil || c == '+' {
			return v, err
		}
		switch n := v.(type) {
		case int:
			if n == math.MinInt {
				return nil, errNotLiteral
			}
			return -n, nil
		case float64:
			return -n, nil
		}
		return nil, errNotLiteral
	case startsNumber(p.src[p.pos:]):
		return p.number()
	case c == '\'' || c == '"' || startsPrefixedString(p.src[p.pos:]):
		return p.strings()
	case c == '[':
		return p.list()
	case c == '(':
		return p.tuple()
	case c == '{':
		return p.braces()
	}

	word := p.identifier()
	switch word {
	case "True":
		return true, nil
	case "False":
		return false, nil
	case "None":
		return nil, nil
	}
	return nil, errNotLiteral
}

func (p *pyParser) identifier() string {
	start := p.pos
	for p.pos < len(p.src) && isIdentByte(p.src[p.pos]) {
		p.pos++
	}
	return p.src[start:p.pos]
}

func isIdentByte(c byte) bool {
	return c == '_' || isLetter(c) || ('0' <= c && c <= '9') || c >= utf8.RuneSelf
}

func startsNumber(s string) bool {
	if s == "" {
		return false
	}
	if '0' <= s[0] && s[0] <= '9' {
		return true
	}
	return s[0] == '.' && len(s) > 1 && '0' <= s[1] && s[1] <= '9'
}

// number reads an int or float literal with Python's rules: underscores
// only between digits, no leading zeros on a nonzero decimal integer,
// and 0x, 0o and 0b prefixes.
func (p *pyParser) number() (any, error) {
	start := p.pos
	s := p.src[start:]
	if len(s) > 1 && s[0] == '0' && strings.ContainsRune("xXoObB", rune(s[1])) {
		base := map[byte]int{'x': 16, 'X': 16, 'o': 8, 'O': 8, 'b': 2, 'B': 2}[s[1]]
		p.pos += 2
		digits := p.digitRun(func(c byte) bool { return digitValue(c) < base })
		if digits == "" || p.followedByIdentifier() {
			return nil, errNotLiteral
		}
		n, err := strconv.ParseInt(digits, base, 64)
		if err != nil {
			return nil, errNotLiteral
		}
		return int(n), nil
	}

	isDecimal := func(c byte) bool { return '0' <= c && c <= '9' }
	intPart := p.digitRun(isDecimal)
	isFloat := false
	if p.peek() == '.' {
		isFloat = true
		p.pos++
		if isDecimal(p.peek()) && p.digitRun(isDecimal) == "" {
			return nil, errNotLiteral
		}
	}
	if c := p.peek(); c == 'e' || c == 'E' {
		isFloat = true
		p.pos++
		if c := p.peek(); c == '+' || c == '-' {
			p.pos++
		}
		if p.digitRun(isDecimal) == "" {
			return nil, errNotLiteral
		}
	}
	if p.followedByIdentifier() {
		// Covers 12abc and complex numbers such as 3j, which Ansible
		// turns back into text.
		return nil, errNotLiteral
	}

	text := strings.ReplaceAll(p.src[start:p.pos], "_", "")
	if isFloat {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil && !math.IsInf(f, 0) {
			return nil, errNotLiteral
		}
		return f, nil
	}
	if intPart == "" || (len(text) > 1 && text[0] == '0' && strings.Trim(text, "0") != "") {
		return nil, errNotLiteral
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return nil, errNotLiteral
	}
	return int(n), nil
}

// digitRun reads digits with single underscores between them and returns
// them without underscores, or "" when the run is empty or malformed.
func (p *pyParser) digitRun(isDigit func(byte) bool) string {
	var b strings.Builder
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if c == '_' && b.Len() > 0 && p.pos+1 < len(p.src) && isDigit(p.src[p.pos+1]) {
			p.pos++
			continue
		}
		if !isDigit(c) {
			break
		}
		b.WriteByte(c)
		p.pos++
	}
	if p.peek() == '_' {
		return ""
	}
	return b.String()
}

func (p *pyParser) followedByIdentifier() bool {
	return p.pos < len(p.src) && isIdentByte(p.src[p.pos])
}

func digitValue(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return 99
}

// startsPrefixedString reports a string prefix (r, u, b and their
// combinations) followed by a quote. Prefixes f and t make an f-string
// or template, which is not a literal.
func startsPrefixedString(s string) bool {
	for i := 0; i < len(s) && i < 3; i++ {
		switch s[i] {
		case 'r', 'R', 'u', 'U', 'b', 'B':
		case '\'', '"':
			return i > 0
		default:
			return false
		}
	}
	return false
}

// strings reads one or more adjacent string literals, which Python
// joins into one.
func (p *pyParser) strings() (any, error) {
	var out strings.Builder
	for {
		s, err := p.stringLiteral()
		if err != nil {
			return nil, err
		}
		out.WriteString(s)
		p.skipSpace()
		c := p.peek()
		if c != '\'' && c != '"' && !startsPrefixedString(p.src[p.pos:]) {
			return out.String(), nil
		}
	}
}

func (p *pyParser) stringLiteral() (string, error) {
	raw := false
	for p.pos < len(p.src) && p.src[p.pos] != '\'' && p.src[p.pos] != '"' {
		if c := p.src[p.pos]; c == 'r' || c == 'R' {
			raw = true
		}
		p.pos++
	}
	quote := p.src[p.pos : p.pos+1]
	if strings.HasPrefix(p.src[p.pos:], quote+quote+quote) {
		quote += quote + quote
	}
	p.pos += len(quote)

	var out strings.Builder
	for {
		if p.pos >= len(p.src) {
			return "", errNotLiteral
		}
		if strings.HasPrefix(p.src[p.pos:], quote) {
			p.pos += len(quote)
			return out.String(), nil
		}
		c := p.src[p.pos]
		if c == '\n' && len(quote) == 1 {
			return "", errNotLiteral
		}
		if c != '\\' {
			out.WriteByte(c)
			p.pos++
			continue
		}
		if p.pos+1 >= len(p.src) {
			return "", errNotLiteral
		}
		if raw {
			// A raw string keeps the backslash, which still stops
			// the next character from ending the string.
			out.WriteString(p.src[p.pos : p.pos+2])
			p.pos += 2
			continue
		}
		if err := p.escape(&out); err != nil {
			return "", err
		}
	}
}

// escape decodes the escape sequence at p.pos. Python keeps unknown
// escapes such as \d as they are.
func (p *pyParser) escape(out *strings.Builder) error {
	c := p.src[p.pos+1]
	simple := map[byte]string{
		'\\': "\\", '\'': "'", '"': "\"", 'a': "\a", 'b': "\b",
		'f': "\f", 'n': "\n", 'r': "\r", 't': "\t", 'v': "\v", '\n': "",
	}
	if s, ok := simple[c]; ok {
		out.WriteString(s)
		p.pos += 2
		return nil
	}
	switch c {
	case 'x', 'u', 'U':
		size := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
		start := p.pos + 2
		if start+size > len(p.src) {
			return errNotLiteral
		}
		n, err := strconv.ParseUint(p.src[start:start+size], 16, 32)
		if err != nil || n > utf8.MaxRune {
			return errNotLiteral
		}
		out.WriteRune(rune(n))
		p.pos = start + size
		return nil
	case '0', '1', '2', '3', '4', '5', '6', '7':
		end := p.pos + 1
		for end < len(p.src) && end < p.pos+4 && '0' <= p.src[end] && p.src[end] <= '7' {
			end++
		}
		n, _ := strconv.ParseUint(p.src[p.pos+1:end], 8, 32)
		out.WriteRune(rune(n))
		p.pos = end
		return nil
	case 'N':
		// Named characters such as \N{BULLET} would need Unicode's
		// name table, so such a value stays text.
		return errNotLiteral
	}
	out.WriteByte('\\')
	p.pos++
	return nil
}

func (p *pyParser) enter() error {
	p.depth++
	if p.depth > maxLiteralDepth {
		return errNotLiteral
	}
	return nil
}

// sequence reads items separated by commas up to the closing bracket,
// allowing a trailing comma. It also reports whether any comma was read,
// which distinguishes a tuple from a parenthesised value.
func (p *pyParser) sequence(open, closing byte) (items []any, sawComma bool, err error) {
	if err := p.enter(); err != nil {
		return nil, false, err
	}
	defer func() { p.depth-- }()
	p.pos++ // the opening bracket
	items = []any{}
	for {
		p.skipSpace()
		if p.peek() == closing {
			p.pos++
			return items, sawComma, nil
		}
		v, err := p.expression()
		if err != nil {
			return nil, false, err
		}
		items = append(items, v)
		p.skipSpace()
		switch p.peek() {
		case ',':
			sawComma = true
			p.pos++
		case closing:
		default:
			return nil, false, errNotLiteral
		}
	}
}

func (p *pyParser) list() (any, error) {
	items, _, err := p.sequence('[', ']')
	return items, err
}

// tuple reads "(...)": a parenthesised value, or a tuple when the items
// have a comma between or after them.
func (p *pyParser) tuple() (any, error) {
	items, sawComma, err := p.sequence('(', ')')
	if err != nil {
		return nil, err
	}
	if len(items) == 1 && !sawComma {
		return items[0], nil
	}
	return items, nil
}

// braces reads a dict, or a set, which Ansible turns into a list.
func (p *pyParser) braces() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.pos++
	p.skipSpace()
	if p.peek() == '}' {
		p.pos++
		return map[string]any{}, nil
	}

	first, err := p.expression()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.peek() != ':' {
		return p.setItems(first)
	}

	dict := map[string]any{}
	key := first
	for {
		p.pos++ // the colon
		v, err := p.expression()
		if err != nil {
			return nil, err
		}
		name, ok := dictKey(key)
		if !ok {
			return nil, errNotLiteral
		}
		dict[name] = v
		p.skipSpace()
		switch p.peek() {
		case '}':
			p.pos++
			return dict, nil
		case ',':
			p.pos++
			p.skipSpace()
			if p.peek() == '}' {
				p.pos++
				return dict, nil
			}
		default:
			return nil, errNotLiteral
		}
		if key, err = p.expression(); err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.peek() != ':' {
			return nil, errNotLiteral
		}
	}
}

func (p *pyParser) setItems(first any) (any, error) {
	if _, ok := dictKey(first); !ok {
		return nil, errNotLiteral // unhashable, so not a valid set item
	}
	items := []any{first}
	seen := map[string]bool{fmt.Sprintf("%T %v", first, first): true}
	for {
		p.skipSpace()
		switch p.peek() {
		case '}':
			p.pos++
			return items, nil
		case ',':
			p.pos++
			p.skipSpace()
			if p.peek() == '}' {
				continue
			}
			v, err := p.expression()
			if err != nil {
				return nil, err
			}
			if _, ok := dictKey(v); !ok {
				return nil, errNotLiteral
			}
			if id := fmt.Sprintf("%T %v", v, v); !seen[id] {
				seen[id] = true
				items = append(items, v)
			}
		default:
			return nil, errNotLiteral
		}
	}
}

// dictKey returns the map key for a Python dict key. Lists and dicts
// cannot be keys in Python. Tuples can, but they are rare in
// inventories, so a dict with a tuple key stays text.
func dictKey(v any) (string, bool) {
	switch k := v.(type) {
	case string:
		return k, true
	case int:
		return strconv.Itoa(k), true
	case float64:
		return strconv.FormatFloat(k, 'g', -1, 64), true
	case bool:
		if k {
			return "True", true
		}
		return "False", true
	case nil:
		return "None", true
	}
	return "", false
}

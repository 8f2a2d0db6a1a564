package inventory

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Section headers and child group lines as Ansible's ini plugin reads
// them: a group name has no white space, ':' or ']', and a comment may
// follow.
var (
	iniSection   = regexp.MustCompile(`^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$`)
	iniGroupName = regexp.MustCompile(`^([^:\]\s]+)\s*(?:#.*)?$`)
)

// iniParser reads one INI inventory file.
type iniParser struct {
	file     string
	b        *builder
	warnings []string

	// known reports groups that earlier inventory files declared.
	known func(string) bool
	// declared contains the groups that this file declares with [name] or
	// [name:children].
	declared map[string]bool
	// pending contains the first place that uses a group before or
	// without declaring it: [name:vars] or a line under [parent:children].
	pending map[string]pendingGroup
}

type pendingGroup struct {
	at     position
	parent string // empty for [name:vars]
}

// parseINI reads an INI inventory. known reports whether an earlier file
// declared a group, because [name:vars] and [parent:children] may only
// name groups that some section declares.
func parseINI(file string, data []byte, known func(string) bool) (*builder, []string, error) {
	p := &iniParser{
		file:     file,
		b:        newBuilder(),
		known:    known,
		declared: map[string]bool{groupAll: true, groupUngrouped: true},
		pending:  make(map[string]pendingGroup),
	}

	// Lines before the first section list hosts of ungrouped.
	groupName, kind := groupUngrouped, "hosts"
	scanner := bufio.NewScanner(bytes.NewReader(data))
	scanner.Buffer(nil, len(data)+1)
	for lineNo := 1; scanner.Scan(); lineNo++ {
		raw := scanner.Text()
		line := strings.TrimSpace(raw)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		at := position{file: file, line: lineNo, column: columnOf(raw, line)}

		if m := iniSection.FindStringSubmatch(line); m != nil {
			groupName, kind = m[1], m[2]
			if kind == "" {
				kind = "hosts"
			}
			if err := p.startSection(groupName, kind, at); err != nil {
				return nil, nil, err
			}
			continue
		}
		if line[0] == '[' && line[len(line)-1] == ']' {
			return nil, nil, at.errorf("invalid section header %s: a group name cannot contain spaces, ':' or ']'", line)
		}

		var err error
		switch kind {
		case "hosts":
			err = p.hostLine(groupName, raw, at)
		case "vars":
			err = p.varLine(groupName, line, at)
		case "children":
			err = p.childLine(groupName, line, at)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, nil, fmt.Errorf("read inventory %s: %w", file, err)
	}
	if err := p.checkPending(); err != nil {
		return nil, nil, err
	}
	return p.b, p.warnings, nil
}

func (p *iniParser) startSection(name, kind string, at position) error {
	switch kind {
	case "hosts", "children":
		p.declared[name] = true
		delete(p.pending, name)
	case "vars":
		if !p.declared[name] && !p.known(name) {
			if _, ok := p.pending[name]; !ok {
				p.pending[name] = pendingGroup{at: at}
			}
		}
	default:
		return at.errorf("invalid section [%s:%s]: the part after ':' must be vars or children", name, kind)
	}
	p.b.group(name)
	return nil
}

// checkPending returns an error for the first group, by line, that a
// [name:vars] or [parent:children] section uses without any section
// declaring it. Ansible rejects these because they are usually typos.
func (p *iniParser) checkPending() error {
	var names []string
	for name := range p.pending {
		if !p.declared[name] && !p.known(name) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Slice(names, func(i, j int) bool {
		return p.pending[names[i]].at.line < p.pending[names[j]].at.line
	})
	first := p.pending[names[0]]
	if first.parent == "" {
		return first.at.errorf("section [%s:vars] is for undefined group %s: add a [%s] section or fix the name",
			names[0], names[0], names[0])
	}
	return first.at.errorf("section [%s:children] includes undefined group %s: add a [%s] section or fix the name",
		first.parent, names[0], names[0])
}

// hostLine reads "entry key=value ...". Words split as in a POSIX shell,
// the way Ansible splits them with shlex: quotes group words and are
// removed, and a '#' outside quotes starts a comment even inside a word.
func (p *iniParser) hostLine(groupName, raw string, at position) error {
	tokens, err := shellSplit(raw)
	if err != nil {
		return at.errorf("invalid host line: %v", err)
	}
	if len(tokens) == 0 {
		return nil // the line was a comment after white space
	}
	if strings.TrimSpace(tokens[0].text) == "---" {
		return at.errorf("found '---', which starts a YAML document: fix the YAML syntax of this inventory")
	}

	names, port, err := hostEntryNames(tokens[0].text)
	if err != nil {
		return p.tokenPosition(raw, at, tokens[0]).errorf("%v", err)
	}
	vars := make(map[string]any)
	if port != 0 {
		vars["ansible_port"] = port
	}
	for _, t := range tokens[1:] {
		key, value, ok := strings.Cut(t.text, "=")
		if !ok {
			// The token is not printed: it may be part of a secret
			// that contains a space.
			return p.tokenPosition(raw, at, t).errorf(
				"invalid host variable: expected key=value; quote a value that contains spaces or '#'")
		}
		if key == "" {
			return p.tokenPosition(raw, at, t).errorf("invalid host variable: the name before '=' is empty")
		}
		vars[key] = parseINIValue(value)
	}
	for _, name := range names {
		p.b.addHost(groupName, name, vars)
	}
	return nil
}

func (p *iniParser) tokenPosition(raw string, at position, t shellToken) position {
	at.column = utf8.RuneCountInString(raw[:t.offset]) + 1
	return at
}

// varLine reads "key=value". Unlike a host line, the whole rest of the
// line is the value, and Ansible keeps a comment after the value as part
// of it unless the value is a Python literal.
func (p *iniParser) varLine(groupName, line string, at position) error {
	key, text, ok := strings.Cut(line, "=")
	if !ok {
		return at.errorf("invalid variable in [%s:vars]: expected key=value", groupName)
	}
	key = strings.TrimSpace(key)
	text = strings.TrimSpace(text)
	if key == "" {
		return at.errorf("invalid variable in [%s:vars]: the name before '=' is empty", groupName)
	}
	value := parseINIValue(text)
	if s, ok := value.(string); ok && strings.Contains(s, " #") {
		p.warnings = append(p.warnings, fmt.Sprintf(
			"%s: the value of %s contains \" #\", which Ansible keeps as part of the value in a [group:vars] section; put the comment on a line of its own",
			at, key))
	}
	p.b.group(groupName).vars[key] = value
	return nil
}

func (p *iniParser) childLine(parent, line string, at position) error {
	m := iniGroupName.FindStringSubmatch(line)
	if m == nil {
		return at.errorf("invalid line in [%s:children]: expected one group name without spaces, ':' or ']'", parent)
	}
	child := m[1]
	if !p.declared[child] && !p.known(child) {
		if _, ok := p.pending[child]; !ok {
			p.pending[child] = pendingGroup{at: at, parent: parent}
		}
	}
	return p.b.addChild(parent, child, at)
}

// columnOf returns the 1-based column at which the trimmed line starts in
// raw.
func columnOf(raw, trimmed string) int {
	return utf8.RuneCountInString(raw[:strings.Index(raw, trimmed)]) + 1
}

// shellToken is a word of a host line and the byte offset where it
// starts.
type shellToken struct {
	text   string
	offset int
}

// shellSplit splits a line into words as Python's shlex.split does with
// comments=True in POSIX mode.
func shellSplit(line string) ([]shellToken, error) {
	var (
		tokens []shellToken
		word   strings.Builder
		inWord bool
		start  int
		quote  byte // the open quote, or 0
	)
	emit := func() {
		if inWord {
			tokens = append(tokens, shellToken{text: word.String(), offset: start})
		}
		word.Reset()
		inWord = false
	}

	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				word.WriteByte(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(line) && (line[i+1] == '"' || line[i+1] == '\\'):
				i++
				word.WriteByte(line[i])
			default:
				word.WriteByte(c)
			}
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			emit()
		case c == '#':
			emit()
			return tokens, nil
		default:
			if !inWord {
				inWord, start = true, i
			}
			switch c {
			case '\'', '"':
				quote = c
			case '\\':
				if i+1 >= len(line) {
					return nil, fmt.Errorf("the line ends in a backslash")
				}
				i++
				word.WriteByte(line[i])
			default:
				word.WriteByte(c)
			}
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("a %c quote is not closed", quote)
	}
	emit()
	return tokens, nil
}

package inventory

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Select returns the hosts that an Ansible host pattern matches, in
// inventory order and each once. It reads the patterns of a play's
// hosts: line and of --limit:
//
//   - all or * for every host; a host name, which wins over a group of
//     the same name except for all; a group name, for the hosts of the
//     group and of every group below it
//   - a glob such as web* or db?.example.com, matched against group and
//     host names
//   - a regular expression after ~, such as ~web\d+, matched from the
//     start of the name (Go RE2 syntax, which lacks look-around)
//   - a subscript into a group's hosts: web[0], web[-1], or web[0:2] with
//     both ends included
//   - @FILE, which reads one pattern per line from FILE, as Ansible does
//     for --limit @retry-file
//
// Parts are separated by commas, or by colons when the pattern has no
// comma. A part prefixed with & keeps only hosts that it also matches,
// and a part prefixed with ! removes the hosts it matches. As in Ansible,
// plain parts apply first, then & parts, then ! parts, and a pattern
// with only & or ! parts starts from all.
//
// A part that matches nothing is not an error; Unmatched lists such
// parts. Errors are for an empty pattern, an invalid regular expression,
// a subscript index past the end of a group, and an unreadable @FILE.
func (inv *Inventory) Select(pattern string) ([]*Host, error) {
	hosts, _, err := inv.evaluate(pattern)
	if err != nil {
		return nil, fmt.Errorf("select hosts %q: %w", pattern, err)
	}
	return hosts, nil
}

// Unmatched returns the parts of a host pattern, as written, that match
// no host, so that a caller can warn about them as Ansible does. A group
// without hosts counts as a match, and so does all. Lines read from an
// @FILE are listed one by one. Parts that make Select fail are not
// listed.
func (inv *Inventory) Unmatched(pattern string) []string {
	_, unmatched, _ := inv.evaluate(pattern)
	return unmatched
}

// patternPart is one part of a host pattern.
type patternPart struct {
	text string // as written, with its & or ! prefix
	op   byte   // 0 to add hosts, '&' to intersect, '!' to exclude
	body string // text without the prefix
}

func (inv *Inventory) evaluate(pattern string) ([]*Host, []string, error) {
	parts, err := parsePattern(pattern)
	if err != nil {
		return nil, nil, err
	}

	selected := make([]bool, len(inv.hosts))
	var unmatched []string
	for _, part := range parts {
		hosts, matched, err := inv.matchPart(part.body)
		if err != nil {
			return nil, unmatched, err
		}
		if !matched {
			unmatched = append(unmatched, part.text)
		}
		switch part.op {
		case 0:
			for _, h := range hosts {
				selected[h.index] = true
			}
		case '&':
			keep := make([]bool, len(inv.hosts))
			for _, h := range hosts {
				keep[h.index] = true
			}
			for i := range selected {
				selected[i] = selected[i] && keep[i]
			}
		case '!':
			for _, h := range hosts {
				selected[h.index] = false
			}
		}
	}

	var result []*Host
	for i, ok := range selected {
		if ok {
			result = append(result, inv.hosts[i])
		}
	}
	return result, unmatched, nil
}

// parsePattern splits a host pattern into parts, reads @FILE parts and
// orders the parts as Ansible applies them.
func parsePattern(pattern string) ([]patternPart, error) {
	if strings.TrimSpace(pattern) == "" {
		return nil, errors.New("the host pattern is empty: use all to select every host")
	}
	var texts []string
	for _, text := range splitHostPattern(pattern) {
		if !strings.HasPrefix(text, "@") {
			texts = append(texts, text)
			continue
		}
		lines, err := readPatternFile(text[1:])
		if err != nil {
			return nil, err
		}
		texts = append(texts, lines...)
	}

	var union, intersect, exclude []patternPart
	for _, text := range texts {
		switch text[0] {
		case '&':
			intersect = append(intersect, patternPart{text: text, op: '&', body: text[1:]})
		case '!':
			exclude = append(exclude, patternPart{text: text, op: '!', body: text[1:]})
		default:
			union = append(union, patternPart{text: text, body: text})
		}
	}
	if len(union) == 0 {
		union = []patternPart{{text: groupAll, body: groupAll}}
	}
	return append(append(union, intersect...), exclude...), nil
}

// patternWords matches one colon-separated part: a run of characters
// other than white space, ':' and brackets, or a whole [...] subscript.
var patternWords = regexp.MustCompile(`(?:[^\s:\[\]]|\[[^\]]*\])+`)

// splitHostPattern splits a pattern into parts as Ansible's
// split_host_pattern does: on commas when there is one, and otherwise on
// colons and white space outside brackets, except that an IPv6 address
// stays whole, without brackets.
func splitHostPattern(pattern string) []string {
	var raw []string
	trimmed := strings.TrimSpace(pattern)
	switch {
	case strings.Contains(pattern, ","):
		raw = strings.Split(pattern, ",")
	case isIPv6(strings.TrimSuffix(strings.TrimPrefix(trimmed, "["), "]")):
		raw = []string{strings.TrimSuffix(strings.TrimPrefix(trimmed, "["), "]")}
	default:
		raw = patternWords.FindAllString(pattern, -1)
	}
	parts := raw[:0]
	for _, p := range raw {
		if p = strings.TrimSpace(p); p != "" {
			parts = append(parts, p)
		}
	}
	return parts
}

func isIPv6(s string) bool {
	addr, err := netip.ParseAddr(s)
	return err == nil && addr.Is6()
}

// readPatternFile returns the patterns in a file, one a line, skipping
// blank lines and lines that start with #.
func readPatternFile(path string) ([]string, error) {
	if path == "" {
		return nil, errors.New("@ must be followed by the path of a file that lists host patterns")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read host pattern file: %w", err)
	}
	var lines []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && line[0] != '#' {
			lines = append(lines, line)
		}
	}
	return lines, nil
}

// matchPart returns the hosts one part matches and whether it matched
// anything: a host, or a group even when the group has no hosts.
func (inv *Inventory) matchPart(body string) ([]*Host, bool, error) {
	// A host name wins over a group of the same name, as in Ansible,
	// except that all always means every host.
	if h, ok := inv.hostByName[body]; ok && body != groupAll {
		return []*Host{h}, true, nil
	}
	name, sub, err := splitSubscript(body)
	if err != nil {
		return nil, false, err
	}
	hosts, groupMatched, err := inv.enumerate(name)
	if err != nil {
		return nil, false, err
	}
	if sub == nil {
		return hosts, groupMatched || len(hosts) > 0, nil
	}
	if !groupMatched && len(hosts) == 0 {
		return nil, false, nil // nothing to index into
	}
	hosts, err = sub.apply(hosts, body)
	return hosts, len(hosts) > 0, err
}

// enumerate returns the hosts of the groups whose names a pattern
// matches, followed by the hosts whose names it matches. As in Ansible,
// host names are tried for a glob or regular expression, and for a plain
// name only when no group has that name.
func (inv *Inventory) enumerate(pattern string) ([]*Host, bool, error) {
	isRegexp := strings.HasPrefix(pattern, "~")
	if !isRegexp && !strings.ContainsAny(pattern, ".?*[") {
		if g, ok := inv.groups[pattern]; ok {
			return g.members(), true, nil
		}
		if h, ok := inv.hostByName[pattern]; ok {
			return []*Host{h}, false, nil
		}
		return nil, false, nil
	}

	re, err := compileNamePattern(pattern)
	if err != nil {
		return nil, false, err
	}
	var hosts []*Host
	seen := make(map[*Host]bool)
	add := func(h *Host) {
		if !seen[h] {
			seen[h] = true
			hosts = append(hosts, h)
		}
	}
	groupMatched := false
	for _, g := range inv.groupList {
		if re.MatchString(g.name) {
			groupMatched = true
			for _, h := range g.members() {
				add(h)
			}
		}
	}
	for _, h := range inv.hosts {
		if re.MatchString(h.Name) {
			add(h)
		}
	}
	return hosts, groupMatched, nil
}

// compileNamePattern compiles a ~regexp, anchored at the start as
// Python's re.match is, or a glob, anchored at both ends as fnmatch is.
func compileNamePattern(pattern string) (*regexp.Regexp, error) {
	if expr, ok := strings.CutPrefix(pattern, "~"); ok {
		re, err := regexp.Compile(`^(?:` + expr + `)`)
		if err != nil {
			return nil, fmt.Errorf("invalid regular expression %q: %w", expr, err)
		}
		return re, nil
	}
	re, err := regexp.Compile(globToRegexp(pattern))
	if err != nil {
		return nil, fmt.Errorf("invalid glob %q: %w", pattern, err)
	}
	return re, nil
}

// globToRegexp translates a glob as Python's fnmatch.translate does: *
// matches any run of characters, ? one character, [seq] one character in
// seq and [!seq] one character not in seq. A [ without a closing ] is a
// literal bracket.
func globToRegexp(glob string) string {
	var b strings.Builder
	b.WriteString(`(?s)^`)
	runes := []rune(glob)
	for i := 0; i < len(runes); i++ {
		switch r := runes[i]; r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '[':
			end := i + 1
			if end < len(runes) && runes[end] == '!' {
				end++
			}
			if end < len(runes) && runes[end] == ']' {
				end++
			}
			for end < len(runes) && runes[end] != ']' {
				end++
			}
			if end >= len(runes) {
				b.WriteString(`\[`)
				continue
			}
			class := runes[i+1 : end]
			b.WriteByte('[')
			if len(class) > 0 && class[0] == '!' {
				b.WriteByte('^')
				class = class[1:]
			}
			for _, c := range class {
				if strings.ContainsRune(`\[]^`, c) {
					b.WriteByte('\\')
				}
				b.WriteRune(c)
			}
			b.WriteByte(']')
			i = end
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`$`)
	return b.String()
}

// subscript selects hosts by position: one index, possibly negative, or
// an inclusive range whose end defaults to the last host.
type subscript struct {
	start, end int
	isRange    bool
	hasEnd     bool
}

var subscriptPattern = regexp.MustCompile(`^(.+)\[(?:(-?[0-9]+)|([0-9]+):([0-9]+)?)\]$`)

// splitSubscript splits "web[0:2]" into "web" and its subscript. A
// regular expression never has one, so ~web[0-9] stays whole.
func splitSubscript(pattern string) (string, *subscript, error) {
	if strings.HasPrefix(pattern, "~") {
		return pattern, nil, nil
	}
	m := subscriptPattern.FindStringSubmatch(pattern)
	if m == nil {
		return pattern, nil, nil
	}
	atoi := func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, fmt.Errorf("invalid subscript in %q: %w", pattern, err)
		}
		return n, nil
	}
	if m[2] != "" {
		i, err := atoi(m[2])
		return m[1], &subscript{start: i}, err
	}
	start, err := atoi(m[3])
	if err != nil {
		return "", nil, err
	}
	sub := &subscript{start: start, isRange: true}
	if m[4] != "" {
		if sub.end, err = atoi(m[4]); err != nil {
			return "", nil, err
		}
		sub.hasEnd = true
	}
	return m[1], sub, nil
}

func (s *subscript) apply(hosts []*Host, pattern string) ([]*Host, error) {
	if !s.isRange {
		i := s.start
		if i < 0 {
			i += len(hosts)
		}
		if i < 0 || i >= len(hosts) {
			return nil, fmt.Errorf("subscript in %s is out of range: it matches %d hosts, numbered from 0", pattern, len(hosts))
		}
		return []*Host{hosts[i]}, nil
	}
	end := len(hosts) - 1
	if s.hasEnd {
		end = min(s.end, len(hosts)-1)
	}
	if s.start > end {
		return nil, nil
	}
	return hosts[s.start : end+1], nil
}

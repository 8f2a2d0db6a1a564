// Package hostlist writes sets of host names compactly, in the range
// notation of Ansible inventories: node01 to node40 become node[01:40].
package hostlist

import (
	"sort"
	"strconv"
	"strings"
)

// minRun is the shortest run of consecutive numbers written as a range.
// Two names read more easily as "node1,node2" than as "node[1:2]".
const minRun = 3

// maxDigits bounds the numbers that are read as numbers. Longer digit
// runs, such as those in hashes, stay part of a plain name.
const maxDigits = 18

// Compact returns names as a comma-separated list in which each run of at
// least three names that differ only in their last number is written as
// one range, such as node[01:40].example.com. Each range expands, as an
// Ansible inventory host entry, to exactly the names it replaces: numbers
// padded with zeros stay in a range whose start carries the padding.
// Names that contain ',', ':', '[' or ']' stay whole. Duplicates are
// dropped, and the parts are sorted by name, numbers by value.
func Compact(names []string) string {
	return strings.Join(CompactParts(names), ",")
}

// CompactParts returns the parts that Compact joins.
func CompactParts(names []string) []string {
	type class struct {
		prefix, suffix string
		width          int // 0 for numbers written without padding
	}
	type entry struct {
		name  string
		value uint64
	}
	classes := map[class][]entry{}
	var parts []part
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		prefix, digits, suffix, ok := splitLastNumber(name)
		if !ok {
			parts = append(parts, part{text: name, first: name})
			continue
		}
		value, _ := strconv.ParseUint(digits, 10, 64)
		c := class{prefix: prefix, suffix: suffix}
		if len(digits) > 1 && digits[0] == '0' {
			c.width = len(digits)
		}
		classes[c] = append(classes[c], entry{name: name, value: value})
	}

	// A number without a leading zero but as wide as the padded numbers
	// of its prefix and suffix joins them, so node01 to node40 make one
	// range instead of node[01:09] and node[10:40].
	for c, entries := range classes {
		if c.width != 0 {
			continue
		}
		var unpadded []entry
		for _, e := range entries {
			_, digits, _, _ := splitLastNumber(e.name)
			padded := class{prefix: c.prefix, suffix: c.suffix, width: len(digits)}
			if _, ok := classes[padded]; ok {
				classes[padded] = append(classes[padded], e)
				continue
			}
			unpadded = append(unpadded, e)
		}
		if len(unpadded) == 0 {
			delete(classes, c)
		} else {
			classes[c] = unpadded
		}
	}

	for c, entries := range classes {
		sort.Slice(entries, func(i, j int) bool { return entries[i].value < entries[j].value })
		for start := 0; start < len(entries); {
			end := start + 1
			for end < len(entries) && entries[end].value == entries[end-1].value+1 {
				end++
			}
			run := entries[start:end]
			if len(run) < minRun {
				for _, e := range run {
					parts = append(parts, part{text: e.name, first: e.name})
				}
			} else {
				first, last := run[0].name, run[len(run)-1].name
				_, lo, _, _ := splitLastNumber(first)
				_, hi, _, _ := splitLastNumber(last)
				text := c.prefix + "[" + lo + ":" + hi + "]" + c.suffix
				parts = append(parts, part{text: text, first: first})
			}
			start = end
		}
	}

	sort.Slice(parts, func(i, j int) bool { return naturalLess(parts[i].first, parts[j].first) })
	out := make([]string, len(parts))
	for i, p := range parts {
		out[i] = p.text
	}
	return out
}

// part is one element of a compact list and the first name it stands
// for, which orders the list.
type part struct {
	text  string
	first string
}

// splitLastNumber splits name around its last run of digits. It reports
// false for names without one, for digit runs too long to be numbers,
// and for names with characters that the range notation reads.
func splitLastNumber(name string) (prefix, digits, suffix string, ok bool) {
	if strings.ContainsAny(name, ",:[]") {
		return "", "", "", false
	}
	end := len(name)
	for end > 0 && !isDigit(name[end-1]) {
		end--
	}
	if end == 0 {
		return "", "", "", false
	}
	start := end
	for start > 0 && isDigit(name[start-1]) {
		start--
	}
	if end-start > maxDigits {
		return "", "", "", false
	}
	return name[:start], name[start:end], name[end:], true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// naturalLess orders strings as people order host names: runs of digits
// compare by value, so node9 sorts before node10.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		if isDigit(a[0]) && isDigit(b[0]) {
			da, db := leadingDigits(a), leadingDigits(b)
			na := strings.TrimLeft(da, "0")
			nb := strings.TrimLeft(db, "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			if len(da) != len(db) {
				return len(da) < len(db)
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i]
}

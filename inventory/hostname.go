package inventory

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode"
)

// maxRangeHosts caps how many host names one inventory entry may expand
// to, so that a typo such as node[1:10000000] fails fast instead of
// exhausting memory.
const maxRangeHosts = 100_000

// hostEntryNames expands an inventory host entry into host names and the
// port written after the name, or 0 when there is none. Entries are
// written as in Ansible: "name", "name:port", "[ipv6]:port", a bare IP
// address, and names with ranges such as "node[01:20].example.com".
func hostEntryNames(entry string) ([]string, int, error) {
	if entry == "" {
		return nil, 0, fmt.Errorf("host name is empty")
	}
	if strings.Contains(entry, "=") {
		// The entry is not printed: it is likely a variable, whose value
		// may be a secret.
		return nil, 0, fmt.Errorf("invalid host name: it contains '=', so it reads as a variable; put variables after a host name or in a [group:vars] section")
	}
	if strings.HasPrefix(entry, "[") {
		if names, port, ok, err := bracketedIPv6(entry); ok {
			return names, port, err
		}
	}
	if _, err := netip.ParseAddr(entry); err == nil {
		return []string{entry}, 0, nil
	}

	name, port, err := splitEntryPort(entry)
	if err != nil {
		return nil, 0, err
	}
	names, err := expandRanges(name)
	if err != nil {
		return nil, 0, fmt.Errorf("invalid host range in %q: %w", entry, err)
	}
	for _, n := range names {
		if err := checkHostName(n); err != nil {
			return nil, 0, err
		}
	}
	return names, port, nil
}

// bracketedIPv6 reads "[addr]" and "[addr]:port". It reports ok=false
// when the brackets contain no IPv6 address, because a leading range such
// as "[a:c]-db" also starts with a bracket.
func bracketedIPv6(entry string) (names []string, port int, ok bool, err error) {
	end := strings.IndexByte(entry, ']')
	if end < 0 {
		return nil, 0, false, nil
	}
	addr, parseErr := netip.ParseAddr(entry[1:end])
	if parseErr != nil || !addr.Is6() {
		return nil, 0, false, nil
	}
	rest := entry[end+1:]
	if rest == "" {
		return []string{entry[1:end]}, 0, true, nil
	}
	if !strings.HasPrefix(rest, ":") {
		return nil, 0, true, fmt.Errorf("invalid host %q: write an IPv6 address with a port as [address]:port", entry)
	}
	port, err = parsePortSuffix(entry, rest[1:])
	return []string{entry[1:end]}, port, true, err
}

// splitEntryPort splits "name:port". A colon inside range brackets is
// part of the range, and any other colon must introduce a port.
func splitEntryPort(entry string) (string, int, error) {
	depth := 0
	colon := -1
	for i, r := range entry {
		switch r {
		case '[':
			depth++
		case ']':
			depth--
		case ':':
			if depth == 0 {
				if colon >= 0 {
					return "", 0, fmt.Errorf("invalid host %q: a colon outside [start:end] may only introduce a port", entry)
				}
				colon = i
			}
		}
	}
	if colon < 0 {
		return entry, 0, nil
	}
	port, err := parsePortSuffix(entry, entry[colon+1:])
	return entry[:colon], port, err
}

func parsePortSuffix(entry, digits string) (int, error) {
	if digits == "" {
		return 0, fmt.Errorf("invalid host %q: it ends in a colon; add a port number or remove the colon", entry)
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("invalid host %q: a colon outside [start:end] may only introduce a port", entry)
		}
	}
	port, err := strconv.Atoi(digits)
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("invalid port in host %q: use a port from 1 to 65535", entry)
	}
	return port, nil
}

func checkHostName(name string) error {
	if name == "" {
		return fmt.Errorf("host name is empty")
	}
	for _, r := range name {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return fmt.Errorf("invalid host name %q: it contains a space or control character", name)
		}
		if r == '[' || r == ']' {
			return fmt.Errorf("invalid host name %q: a bracket must enclose a range such as [1:9]", name)
		}
	}
	return nil
}

// expandRanges expands every [start:end] and [start:end:stride] in name,
// leftmost range outermost. Bounds are numbers or single letters, a
// numeric start with a leading zero sets the width of every number, and
// both bounds are included.
func expandRanges(name string) ([]string, error) {
	open := strings.IndexByte(name, '[')
	if open < 0 {
		if strings.IndexByte(name, ']') >= 0 {
			return nil, fmt.Errorf("found ']' without '['")
		}
		return []string{name}, nil
	}
	closing := strings.IndexByte(name[open:], ']')
	if closing < 0 {
		return nil, fmt.Errorf("found '[' without ']'")
	}
	closing += open

	values, err := rangeValues(name[open+1 : closing])
	if err != nil {
		return nil, err
	}
	tails, err := expandRanges(name[closing+1:])
	if err != nil {
		return nil, err
	}
	if len(values)*len(tails) > maxRangeHosts {
		return nil, fmt.Errorf("it expands to more than %d host names", maxRangeHosts)
	}

	head := name[:open]
	names := make([]string, 0, len(values)*len(tails))
	for _, v := range values {
		for _, t := range tails {
			names = append(names, head+v+t)
		}
	}
	return names, nil
}

// rangeLetters is the letter sequence of alphabetic ranges, the same as
// Python's string.ascii_letters that Ansible indexes, so [x:B] runs from
// x through z and then A through B.
const rangeLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// rangeValues expands the inside of one range, such as "01:20:2".
func rangeValues(spec string) ([]string, error) {
	bounds := strings.Split(spec, ":")
	if len(bounds) != 2 && len(bounds) != 3 {
		return nil, fmt.Errorf("range [%s] must be [start:end] or [start:end:stride]", spec)
	}
	start, end := bounds[0], bounds[1]
	if start == "" {
		start = "0"
	}
	if end == "" {
		return nil, fmt.Errorf("range [%s] has no end", spec)
	}
	stride := 1
	if len(bounds) == 3 {
		n, err := strconv.Atoi(bounds[2])
		if err != nil || n < 1 {
			return nil, fmt.Errorf("range [%s] has an invalid stride %q: use a whole number of 1 or more", spec, bounds[2])
		}
		stride = n
	}

	if len(start) == 1 && len(end) == 1 && isLetter(start[0]) && isLetter(end[0]) {
		first := strings.IndexByte(rangeLetters, start[0])
		last := strings.IndexByte(rangeLetters, end[0])
		if first > last {
			return nil, fmt.Errorf("range [%s] starts after its end", spec)
		}
		var values []string
		for i := first; i <= last; i += stride {
			values = append(values, rangeLetters[i:i+1])
		}
		return values, nil
	}

	first, err1 := strconv.Atoi(start)
	last, err2 := strconv.Atoi(end)
	if err1 != nil || err2 != nil || first < 0 || last < 0 || !isDigits(start) || !isDigits(end) {
		return nil, fmt.Errorf("range [%s] must have two numbers or two letters as bounds", spec)
	}
	if first > last {
		return nil, fmt.Errorf("range [%s] starts after its end", spec)
	}
	width := 0
	if len(start) > 1 && start[0] == '0' {
		if len(start) != len(end) {
			return nil, fmt.Errorf("range [%s] pads with zeros, so start and end must have the same number of digits, as in [01:50]", spec)
		}
		width = len(start)
	}
	count := (last-first)/stride + 1
	if count > maxRangeHosts {
		return nil, fmt.Errorf("it expands to more than %d host names", maxRangeHosts)
	}
	values := make([]string, count)
	for k := range values {
		values[k] = fmt.Sprintf("%0*d", width, first+k*stride)
	}
	return values, nil
}

func isLetter(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

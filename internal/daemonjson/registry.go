package daemonjson

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// NormalizeRegistry returns the insecure-registries form of a registry
// entry: host, host:port, [IPv6] or [IPv6]:port with the host in lower case,
// or a CIDR. Surrounding spaces, an http:// or https:// scheme and one
// trailing slash are removed, because dockerd rejects an entry with a
// scheme. Anything else, such as a path, is rejected.
func NormalizeRegistry(entry string) (string, error) {
	fail := func(reason string) (string, error) {
		return "", fmt.Errorf("invalid registry %q: %s; want host, host:port, [IPv6]:port or a CIDR such as 10.0.0.0/8", entry, reason)
	}
	s := strings.TrimSpace(entry)
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f:
			return fail("contains a control character")
		case r == ' ':
			return fail("contains a space")
		case r > 0x7e:
			return fail("contains a non-ASCII character (write an internationalised name in its xn-- form)")
		}
	}
	lower := strings.ToLower(s)
	for _, scheme := range []string{"http://", "https://"} {
		if strings.HasPrefix(lower, scheme) {
			s = s[len(scheme):]
			break
		}
	}
	s = strings.TrimSuffix(s, "/")
	if s == "" {
		return fail("empty")
	}

	if strings.Contains(s, "/") {
		prefix, err := netip.ParsePrefix(s)
		if err != nil {
			return fail("has a path, or a CIDR that does not parse")
		}
		return prefix.String(), nil
	}
	host, port, err := splitRegistry(s)
	if err != nil {
		return fail(err.Error())
	}
	if port != "" {
		return host + ":" + port, nil
	}
	return host, nil
}

// splitRegistry splits host[:port] or [IPv6][:port] and returns the host
// in canonical form (lower case, IPv6 in brackets and compressed).
func splitRegistry(s string) (host, port string, err error) {
	if strings.HasPrefix(s, "[") {
		inside, rest, ok := strings.Cut(s[1:], "]")
		if !ok {
			return "", "", errors.New("missing ]")
		}
		ip, err := netip.ParseAddr(inside)
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return "", "", errors.New("brackets must contain an IPv6 address without zone")
		}
		host = "[" + ip.String() + "]"
		if rest != "" {
			var hasColon bool
			if port, hasColon = strings.CutPrefix(rest, ":"); !hasColon {
				return "", "", errors.New("unexpected text after ]")
			}
		}
	} else {
		switch strings.Count(s, ":") {
		case 0:
			host = s
		case 1:
			host, port, _ = strings.Cut(s, ":")
		default:
			return "", "", errors.New("an IPv6 address needs brackets, as in [fd00::1]:5000")
		}
		if err := checkHostname(host); err != nil {
			return "", "", err
		}
		host = strings.ToLower(host)
	}
	if port != "" || strings.HasSuffix(s, ":") {
		if err := checkPort(port); err != nil {
			return "", "", err
		}
	}
	return host, port, nil
}

// checkHostname applies the domain rules of image references: dot-separated
// labels of letters, digits and inner hyphens.
func checkHostname(host string) error {
	if host == "" {
		return errors.New("missing host")
	}
	if len(host) > 253 {
		return errors.New("host name longer than 253 characters")
	}
	for _, label := range strings.Split(host, ".") {
		switch {
		case label == "":
			return errors.New(`empty label in host name ("..", or a leading or trailing dot)`)
		case len(label) > 63:
			return fmt.Errorf("label %q longer than 63 characters", label)
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Errorf("label %q starts or ends with a hyphen", label)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("character %q not allowed in a host name", r)
			}
		}
	}
	return nil
}

func checkPort(port string) error {
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port[0] == '0' || port[0] == '+' {
		return fmt.Errorf("port %q is not a number from 1 to 65535 without leading zeros", port)
	}
	return nil
}

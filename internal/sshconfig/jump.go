package sshconfig

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Jump is one hop of a ProxyJump value.
type Jump struct {
	User string // "" when the value names no user
	Host string // a host name or address, IPv6 without brackets
	Port int    // 0 when the value names no port
}

// String returns the hop in the [user@]host[:port] form.
func (j Jump) String() string {
	s := j.Host
	if strings.Contains(s, ":") {
		s = "[" + s + "]"
	}
	if j.User != "" {
		s = j.User + "@" + s
	}
	if j.Port != 0 {
		s += ":" + strconv.Itoa(j.Port)
	}
	return s
}

// ParseProxyJump parses a ProxyJump value: a comma-separated list of
// hops, first hop first, each [user@]host[:port] or
// ssh://[user@]host[:port], with IPv6 addresses in brackets.
func ParseProxyJump(value string) ([]Jump, error) {
	var jumps []Jump
	for _, part := range strings.Split(value, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("invalid ProxyJump %q: it has an empty hop; want [user@]host[:port] hops separated by commas", value)
		}
		j, err := parseJump(part)
		if err != nil {
			return nil, fmt.Errorf("invalid ProxyJump hop %q: %w", part, err)
		}
		jumps = append(jumps, j)
	}
	return jumps, nil
}

func parseJump(s string) (Jump, error) {
	if strings.HasPrefix(s, "ssh://") {
		u, err := url.Parse(s)
		if err != nil {
			return Jump{}, fmt.Errorf("parse as URL: %w", err)
		}
		if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
			return Jump{}, fmt.Errorf("want ssh://[user@]host[:port] without a path or query")
		}
		if _, hasPassword := u.User.Password(); hasPassword {
			return Jump{}, fmt.Errorf("want no password in the URL")
		}
		j := Jump{User: u.User.Username(), Host: u.Hostname()}
		if p := u.Port(); p != "" {
			port, err := parsePort(p)
			if err != nil {
				return Jump{}, err
			}
			j.Port = port
		}
		return j, checkJump(j)
	}

	var j Jump
	hostPort := s
	if at := strings.LastIndex(s, "@"); at >= 0 {
		j.User, hostPort = s[:at], s[at+1:]
		if j.User == "" {
			return Jump{}, fmt.Errorf("empty user before @")
		}
	}
	switch {
	case strings.HasPrefix(hostPort, "["):
		host, port, err := net.SplitHostPort(hostPort)
		if err != nil {
			// "[::1]" without a port.
			if !strings.HasSuffix(hostPort, "]") {
				return Jump{}, fmt.Errorf("want [ADDRESS] or [ADDRESS]:PORT for an IPv6 address")
			}
			host, port = hostPort[1:len(hostPort)-1], ""
		}
		j.Host = host
		if port != "" {
			if j.Port, err = parsePort(port); err != nil {
				return Jump{}, err
			}
		}
	case strings.Count(hostPort, ":") == 1:
		host, port, _ := strings.Cut(hostPort, ":")
		p, err := parsePort(port)
		if err != nil {
			return Jump{}, err
		}
		j.Host, j.Port = host, p
	default:
		// A host name, or an IPv6 address without brackets and port.
		j.Host = hostPort
	}
	return j, checkJump(j)
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(s)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("invalid port %q: want 1 to 65535", s)
	}
	return p, nil
}

func checkJump(j Jump) error {
	if j.Host == "" {
		return fmt.Errorf("missing host")
	}
	if strings.ContainsAny(j.Host, " \t/@") || strings.ContainsAny(j.User, " \t:/") {
		return fmt.Errorf("want [user@]host[:port]")
	}
	return nil
}

package sshx

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Defaults for the zero values of Config.
const (
	DefaultPort           = 22
	DefaultConnectTimeout = 15 * time.Second
	DefaultKeepAlive      = 30 * time.Second
)

// Config describes one SSH connection. The caller fills it from its own
// inventory; Dial reads no ssh_config file.
type Config struct {
	Host string // DNS name or IP address, IPv6 without brackets
	Port int    // 0 means 22
	User string // required

	// IdentityFiles are private key files, already ~-expanded by the
	// caller. A file next to one of them named FILE-cert.pub is offered
	// as that key's certificate, as OpenSSH does.
	IdentityFiles []string
	// UseAgent also offers the keys of the agent at $SSH_AUTH_SOCK when
	// that variable is set.
	UseAgent bool

	// KnownHostsFiles are the known_hosts files that host keys are checked
	// against; at least one is required, and a missing file counts as
	// empty.
	KnownHostsFiles []string
	// AcceptNewHostKeys trusts an unknown host on first use by appending
	// its key to KnownHostsFiles[0]. A key that differs from the one on
	// file is still rejected.
	AcceptNewHostKeys bool

	ConnectTimeout time.Duration // TCP connect plus SSH handshake; 0 means 15s
	KeepAlive      time.Duration // interval of keepalive@openssh.com requests; 0 means 30s
}

// withDefaults returns a validated copy of c with the zero values replaced
// by their defaults.
func (c Config) withDefaults() (Config, error) {
	if strings.HasPrefix(c.Host, "[") && strings.HasSuffix(c.Host, "]") {
		c.Host = c.Host[1 : len(c.Host)-1]
	}
	if err := validateHost(c.Host); err != nil {
		return c, err
	}
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.Port < 1 || c.Port > 65535 {
		return c, fmt.Errorf("invalid port %d for host %s: want 1 to 65535, or 0 for 22", c.Port, c.Host)
	}
	if c.User == "" {
		return c, fmt.Errorf("missing user for host %s", c.Host)
	}
	if len(c.KnownHostsFiles) == 0 {
		return c, fmt.Errorf("missing known_hosts file for host %s: set at least one, such as ~/.ssh/known_hosts", c.Host)
	}
	for _, file := range c.KnownHostsFiles {
		if file == "" {
			return c, fmt.Errorf("invalid known_hosts file list for host %s: it contains an empty path", c.Host)
		}
	}
	if c.ConnectTimeout < 0 || c.KeepAlive < 0 {
		return c, fmt.Errorf("invalid durations for host %s: connect timeout %v and keepalive %v must not be negative", c.Host, c.ConnectTimeout, c.KeepAlive)
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	return c, nil
}

// address returns HOST:PORT, with brackets around an IPv6 address.
func (c Config) address() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

// validateHost accepts an IP address or a DNS name. It rejects anything
// else because the host ends up in known_hosts lines, where a space, a
// comma or a wildcard would change what the line matches.
func validateHost(host string) error {
	if host == "" {
		return errors.New("missing host")
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	if len(host) > 253 {
		return fmt.Errorf("invalid host %.40q...: longer than 253 characters", host)
	}
	for _, r := range host {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		case r == '-', r == '.', r == '_':
		default:
			return fmt.Errorf("invalid host %q: want an IP address or a DNS name of letters, digits, '-', '.' and '_'", host)
		}
	}
	return nil
}

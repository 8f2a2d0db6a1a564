package sshx

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/regtrust/regtrust/internal/secret"
)

// Defaults for the zero values of Config.
const (
	DefaultPort           = 22
	DefaultConnectTimeout = 15 * time.Second
	DefaultKeepAlive      = 30 * time.Second
	DefaultRetryDelay     = time.Second
)

// MaxJumps is the maximum number of jump hosts in front of one host.
// OpenSSH sets no such limit; this one only catches configuration
// loops that the caller did not.
const MaxJumps = 8

// Config describes one SSH connection. The caller fills it from its own
// inventory and ssh config; Dial reads no ssh_config file itself.
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
	// Keys reads and decrypts the identity files. Sharing one Keys
	// between the Dials of a run reads each file once and asks for each
	// passphrase once. Nil means a Keys without a passphrase source, so
	// an encrypted key works only through the agent.
	Keys *Keys
	// Password, when set, is offered after the keys, with the
	// "password" method and as the answer to the hidden prompts of
	// "keyboard-interactive".
	Password secret.Value

	// KnownHostsFiles are the known_hosts files that host keys are checked
	// against; at least one is required, and a missing file counts as
	// empty.
	KnownHostsFiles []string
	// AcceptNewHostKeys trusts an unknown host on first use by appending
	// its key to KnownHostsFiles[0]. A key that differs from the one on
	// file is still rejected.
	AcceptNewHostKeys bool

	ConnectTimeout time.Duration // TCP connect plus SSH handshake, per hop; 0 means 15s
	KeepAlive      time.Duration // interval of keepalive@openssh.com requests; 0 means 30s

	// Jumps are the jump hosts (OpenSSH's ProxyJump) in the order they
	// are passed: Dial connects to Jumps[0] directly, to each next one
	// through a direct-tcpip channel of the one before, and to Host
	// through the last. Each jump host is a Config of its own, with its
	// own user, keys and known_hosts check, and no Jumps of its own.
	Jumps []Config

	// ConnectRetries is how many more times Dial tries when a hop is
	// unreachable: the connect was refused or timed out, or the server
	// did not finish the handshake in time. Authentication and host key
	// failures are never retried. The waits between tries start at
	// RetryDelay (0 means 1s) and double each time.
	ConnectRetries int
	RetryDelay     time.Duration
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
	if c.ConnectTimeout < 0 || c.KeepAlive < 0 || c.RetryDelay < 0 {
		return c, fmt.Errorf("invalid durations for host %s: connect timeout %v, keepalive %v and retry delay %v must not be negative",
			c.Host, c.ConnectTimeout, c.KeepAlive, c.RetryDelay)
	}
	if c.ConnectRetries < 0 {
		return c, fmt.Errorf("invalid connect retries %d for host %s: want 0 or more", c.ConnectRetries, c.Host)
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.KeepAlive == 0 {
		c.KeepAlive = DefaultKeepAlive
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = DefaultRetryDelay
	}
	if c.Keys == nil {
		c.Keys = NewKeys(nil)
	}
	if len(c.Jumps) > MaxJumps {
		return c, fmt.Errorf("invalid jump host list for host %s: %d jump hosts, more than %d; check the ProxyJump settings for a loop",
			c.Host, len(c.Jumps), MaxJumps)
	}
	jumps := make([]Config, len(c.Jumps))
	for i, jump := range c.Jumps {
		if len(jump.Jumps) > 0 {
			return c, fmt.Errorf("invalid jump host %s for host %s: it has jump hosts of its own; list every hop in Jumps instead", jump.Host, c.Host)
		}
		if jump.Keys == nil {
			jump.Keys = c.Keys
		}
		jump, err := jump.withDefaults()
		if err != nil {
			return c, fmt.Errorf("jump host %d of %d for host %s: %w", i+1, len(c.Jumps), c.Host, err)
		}
		jumps[i] = jump
	}
	c.Jumps = jumps
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

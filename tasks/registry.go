package tasks

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/regtrust/regtrust/internal/certs"
)

// Registry is a container registry that hosts must trust, as declared in a
// play, with the CA certificate once it is known.
type Registry struct {
	Name string
	// Address is host[:port] exactly as written in image references. It
	// names the certs.d folder, so "gitlab.ltc:4567" and "gitlab.ltc" are
	// different registries to dockerd.
	Address string
	// Pin is the canonical SHA-256 fingerprint the CA must have, or "".
	Pin string
	// CAFile and CAPEM give the CA instead of fetching it from the registry.
	CAFile string
	CAPEM  string
	// ClientCertFile and ClientKeyFile name a client certificate pair that
	// place_docker_cert installs as client.cert and client.key.
	ClientCertFile string
	ClientKeyFile  string
	// Trust lists how a play without tasks trusts the registry: docker,
	// system or insecure.
	Trust []string
	// Via names the inventory host through whose SSH connection the CA
	// is fetched, for a registry that only the hosts can reach. Empty
	// means the controller connects directly.
	Via string
	// ExpiryWindow, when HasExpiryWindow is set, replaces the run's
	// window for expiry warnings of this registry's certificates.
	ExpiryWindow    time.Duration
	HasExpiryWindow bool

	// CAs are the certificates hosts trust, in the order of their source;
	// a CA file may hold several roots. CA is the first of them. Both are
	// set on the controller before any host is contacted.
	CAs []certs.CA
	CA  *certs.CA
	// CASource is where CA came from, for messages.
	CASource string
	// Warnings are notes about the CA, such as a root missing from the
	// chain the registry sent or a certificate that expires soon.
	Warnings   []string
	ClientCert []byte
	ClientKey  []byte
}

// CABundle returns every CA certificate of the registry as concatenated
// PEM blocks, the content of a certs.d ca.crt file. dockerd, containerd
// and the containers libraries read every certificate of such a file.
func (r *Registry) CABundle() []byte {
	var b []byte
	for _, ca := range r.caList() {
		b = append(b, ca.PEM...)
	}
	return b
}

// caList returns CAs, or CA alone for a Registry built with only CA set.
func (r *Registry) caList() []certs.CA {
	if len(r.CAs) == 0 && r.CA != nil {
		return []certs.CA{*r.CA}
	}
	return r.CAs
}

// ParseExpiryWindow parses how long before a certificate's expiry a run
// warns: a Go duration such as 720h, or whole days such as 30d. "0"
// turns the warning off, except for certificates that already expired.
func ParseExpiryWindow(s string) (time.Duration, error) {
	invalid := fmt.Errorf("invalid expiry warning window %q: give days such as 30d or a duration such as 720h; 0 turns the warning off", s)
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return 0, invalid
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, invalid
	}
	return d, nil
}

var registryNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidateRegistryName checks a registry's name in a play. The name is used
// in file names on hosts, so it is restricted to letters, digits, '.', '_'
// and '-'.
func ValidateRegistryName(name string) error {
	if !registryNamePattern.MatchString(name) || strings.Contains(name, "..") {
		return fmt.Errorf("invalid registry name %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", name)
	}
	return nil
}

var hostLabel = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// ValidateAddress checks that address is host[:port] as written in image
// references: a DNS name, an IPv4 address or a bracketed IPv6 address, and
// an optional port from 1 to 65535. It rejects schemes, paths, spaces and
// anything else that could leave the certs.d folder.
func ValidateAddress(address string) error {
	bad := func(why string) error {
		return fmt.Errorf("invalid registry address %q: %s; write host[:port] as in image references, for example registry.example.com:5000", address, why)
	}
	if address == "" {
		return bad("it is empty")
	}
	if i := strings.Index(address, "://"); i >= 0 {
		return bad(fmt.Sprintf("remove the scheme %q", address[:i+3]))
	}
	for _, r := range address {
		if r <= ' ' || r == 0x7f {
			return bad("it contains a space or control character")
		}
	}
	if strings.Contains(address, "/") {
		return bad("remove the path")
	}
	host, port := address, ""
	if strings.HasPrefix(address, "[") {
		end := strings.Index(address, "]")
		if end < 0 {
			return bad("the IPv6 address has no closing bracket")
		}
		host = address[1:end]
		rest := address[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return bad("unexpected text after the IPv6 address")
			}
			port = rest[1:]
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() {
			return bad(fmt.Sprintf("%q is not an IPv6 address", host))
		}
	} else {
		if strings.Count(address, ":") > 1 {
			return bad("write an IPv6 address in brackets, like [fd00::1]:5000")
		}
		if h, p, err := net.SplitHostPort(address); err == nil {
			host, port = h, p
		}
		if net.ParseIP(host) == nil {
			for _, label := range strings.Split(host, ".") {
				if !hostLabel.MatchString(label) {
					return bad(fmt.Sprintf("%q is not a valid host name", host))
				}
			}
		}
	}
	if port != "" || strings.HasSuffix(address, ":") {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return bad(fmt.Sprintf("port %q is not a number from 1 to 65535", port))
		}
	}
	return nil
}

package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// ErrCertificateUnusable is wrapped by [Fetch] errors for a registry
// certificate that no trust setting can make valid: wrong or missing
// subjectAltName, outside its validity period, or a broken chain.
var ErrCertificateUnusable = errors.New("unusable registry certificate")

// Chain is the certificate chain a registry sent in its TLS handshake,
// with the CA picked from it.
type Chain struct {
	// Certs are the certificates as sent, leaf first.
	Certs []*x509.Certificate
	// CA is the certificate to trust so that the leaf verifies.
	CA CA
	// Reason says why CA was picked from Certs.
	Reason string
	// Warnings are problems that do not stop trusting the CA but that the
	// user should fix, such as a missing root.
	Warnings []string
}

// Fetch connects to a registry at address (host[:port], port 443 by default,
// IPv6 in brackets), reads the certificate chain from the TLS handshake and
// picks the CA to trust:
//   - the last certificate sent, when it is self-signed;
//   - else the topmost certificate sent, with a warning that the root is
//     missing and that trusting an intermediate or leaf breaks on renewal;
//   - a single self-signed certificate is its own CA, with a warning.
//
// It then verifies that the leaf chains to that CA for the address's name
// or IP at the current time. Failures wrap [ErrCertificateUnusable] and
// state how the certificate must change. Fetch dials through dial, or through a
// net.Dialer when dial is nil, so a caller can dial from another machine.
func Fetch(ctx context.Context, address string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) (*Chain, error) {
	host, port, err := splitAddress(address)
	if err != nil {
		return nil, err
	}
	target := net.JoinHostPort(host, port)
	certs, warning, err := readChain(ctx, host, target, dial)
	if err != nil {
		return nil, fmt.Errorf("fetch CA from %s: %w", target, err)
	}
	chain := &Chain{Certs: certs}
	if warning != "" {
		chain.Warnings = append(chain.Warnings, warning)
	}
	ca, reason, warning := pickCA(certs)
	chain.CA = newCA(ca)
	chain.Reason = reason
	if warning != "" {
		chain.Warnings = append(chain.Warnings, warning)
	}
	if err := verifyChain(certs, ca, verifyName(host), time.Now()); err != nil {
		return nil, fmt.Errorf("fetch CA from %s: %w: %w", target, ErrCertificateUnusable, err)
	}
	return chain, nil
}

// readChain runs a TLS handshake to target and returns the certificates the
// server sent, with a warning when the handshake failed after they arrived.
func readChain(ctx context.Context, host, target string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) ([]*x509.Certificate, string, error) {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	raw, err := dial(ctx, "tcp", target)
	if err != nil {
		return nil, "", fmt.Errorf("connect: %w", err)
	}
	defer raw.Close()

	var sent [][]byte
	config := &tls.Config{
		// Verification is off on purpose: the chain is not trusted yet, and
		// this handshake exists only to read it. Fetch verifies the chain
		// itself against the CA it picks, and nothing is sent over this
		// connection.
		InsecureSkipVerify: true,
		// The callback runs as soon as the server's certificates arrive, so
		// they are kept even if the server aborts the handshake later, for
		// example because it requires a client certificate.
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			sent = rawCerts
			return nil
		},
	}
	if _, err := netip.ParseAddr(host); err != nil {
		// SNI carries names only; RFC 6066 forbids IP literals in it.
		config.ServerName = host
	}
	conn := tls.Client(raw, config)
	handshakeErr := conn.HandshakeContext(ctx)
	if len(sent) == 0 {
		var notTLS tls.RecordHeaderError
		switch {
		case handshakeErr == nil:
			handshakeErr = errors.New("server sent no certificate")
		case errors.As(handshakeErr, &notTLS):
			return nil, "", fmt.Errorf("TLS handshake: the server does not speak TLS, so it has no certificate to trust; a plain-HTTP registry needs insecure-registries instead: %w", handshakeErr)
		}
		return nil, "", fmt.Errorf("TLS handshake: %w", handshakeErr)
	}
	var warning string
	if handshakeErr != nil {
		warning = fmt.Sprintf("the TLS handshake failed after the registry sent its certificates (%v); the registry may require a client certificate", handshakeErr)
	}
	certs := make([]*x509.Certificate, len(sent))
	for i, der := range sent {
		if certs[i], err = x509.ParseCertificate(der); err != nil {
			return nil, "", fmt.Errorf("parse certificate %d sent by the server: %w", i+1, err)
		}
	}
	return certs, warning, nil
}

// splitAddress splits host[:port] or [IPv6][:port] and defaults the port
// to 443.
func splitAddress(address string) (host, port string, err error) {
	invalid := func(reason string) error {
		return fmt.Errorf("invalid registry address %q: %s; want host[:port] or [IPv6][:port]", address, reason)
	}
	a := strings.TrimSpace(address)
	switch {
	case a == "":
		return "", "", invalid("empty")
	case strings.Contains(a, "/"):
		return "", "", invalid("no scheme or path allowed")
	case strings.HasPrefix(a, "["):
		closing := strings.Index(a, "]")
		if closing < 0 {
			return "", "", invalid("missing ]")
		}
		host, port = a[1:closing], "443"
		if rest := a[closing+1:]; rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return "", "", invalid("unexpected text after ]")
			}
			port = p
		}
		if ip, err := netip.ParseAddr(host); err != nil || !ip.Is6() {
			return "", "", invalid("brackets must hold an IPv6 address")
		}
	case strings.Count(a, ":") > 1:
		return "", "", invalid("put an IPv6 address in brackets")
	default:
		var hasPort bool
		if host, port, hasPort = strings.Cut(a, ":"); !hasPort {
			port = "443"
		}
	}
	if host == "" {
		return "", "", invalid("missing host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '+' {
		return "", "", invalid("port must be a number from 1 to 65535")
	}
	return host, port, nil
}

// verifyName returns the name that the leaf must carry: the host, or for an
// IP literal the address without any zone.
func verifyName(host string) string {
	if ip, err := netip.ParseAddr(host); err == nil {
		return ip.WithZone("").String()
	}
	return host
}

// pickCA chooses the certificate to trust from the chain as sent. It
// returns why, and a warning when that choice breaks once the registry
// renews a certificate.
func pickCA(certs []*x509.Certificate) (ca *x509.Certificate, reason, warning string) {
	top := certs[len(certs)-1]
	selfSigned := isSelfSigned(top)
	switch {
	case selfSigned && len(certs) == 1:
		return top, "the registry sent one self-signed certificate, which is its own CA",
			fmt.Sprintf("the registry's certificate %q is a self-signed leaf and serves as its own CA; renewing it replaces it, so every host must be updated again; a private CA that issues the registry's certificate avoids this", top.Subject.String())
	case selfSigned:
		return top, "it is the self-signed root at the end of the chain the registry sent", ""
	case len(certs) == 1:
		return top, "the registry sent only its leaf certificate, and no CA",
			fmt.Sprintf("the registry sent only its own certificate %q, not the CA %q that issued it; trusting the leaf breaks when it is renewed, so supply the issuing root CA instead", top.Subject.String(), top.Issuer.String())
	}
	kind := "certificate"
	if top.IsCA {
		kind = "intermediate CA"
	}
	return top, fmt.Sprintf("it is the topmost certificate sent; the root %q that issued it was not sent", top.Issuer.String()),
		fmt.Sprintf("the registry did not send its root CA %q; trusting the topmost %s it sent, %q, breaks when that %s is renewed, so supply the real root CA instead", top.Issuer.String(), kind, top.Subject.String(), kind)
}

// isSelfSigned reports whether c is signed by its own key, checked by the
// signature and not only by subject and issuer being equal.
func isSelfSigned(c *x509.Certificate) bool {
	if !bytes.Equal(c.RawSubject, c.RawIssuer) {
		return false
	}
	err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
	var insecure x509.InsecureAlgorithmError
	if errors.As(err, &insecure) {
		// NOTE: Go refuses to check SHA-1 and MD5 signatures, which old
		// roots still carry. For those the key identifiers decide instead.
		return len(c.AuthorityKeyId) == 0 || bytes.Equal(c.AuthorityKeyId, c.SubjectKeyId)
	}
	return err == nil
}

// Package certs reads, fetches, checks and describes the certificates that
// make a Docker host trust a private registry: CA files, CAs read from a
// registry's TLS handshake, SHA-256 pins and client certificate pairs.
//
// The package does no SSH and has no playbook logic. Its output is
// normalised so that callers can compare it with what a host already has.
package certs

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrPinMismatch is returned by [CA.Verify] when the CA's fingerprint differs
// from the pin. Callers must stop rather than trust the CA.
var ErrPinMismatch = errors.New("CA fingerprint does not match the pin")

// CA is one trusted certificate in normalised form.
type CA struct {
	Cert *x509.Certificate
	// PEM is the certificate as one PEM block with LF line endings and
	// exactly one trailing newline, ready to write as a .crt file.
	PEM []byte
	// SHA256 is the canonical fingerprint of the DER certificate, as
	// returned by [Fingerprint].
	SHA256 string
}

func newCA(c *x509.Certificate) CA {
	return CA{
		Cert:   c,
		PEM:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}),
		SHA256: Fingerprint(c),
	}
}

// Fingerprint returns the SHA-256 of the DER certificate as uppercase hex
// byte pairs separated by colons ("AB:12:..."), the form openssl prints.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return formatFingerprint(sum[:])
}

func formatFingerprint(sum []byte) string {
	var b strings.Builder
	b.Grow(len(sum) * 3)
	for i, v := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", v)
	}
	return b.String()
}

// ParsePin parses a SHA-256 certificate pin written as 64 hex digits, plain
// or as colon-separated byte pairs, in any case and with surrounding spaces.
// It returns the canonical form of [Fingerprint].
func ParsePin(s string) (string, error) {
	trimmed := strings.TrimSpace(s)
	digits := trimmed
	if strings.Contains(trimmed, ":") {
		pairs := strings.Split(trimmed, ":")
		ok := len(pairs) == sha256.Size
		for _, p := range pairs {
			ok = ok && len(p) == 2
		}
		if !ok {
			return "", invalidPin(s)
		}
		digits = strings.Join(pairs, "")
	}
	if len(digits) != 2*sha256.Size {
		return "", invalidPin(s)
	}
	sum, err := hex.DecodeString(digits)
	if err != nil {
		return "", invalidPin(s)
	}
	return formatFingerprint(sum), nil
}

func invalidPin(s string) error {
	return fmt.Errorf("invalid CA pin %q: a pin is 64 hex digits (SHA-256 of the DER certificate), plain or colon-separated as in \"AB:12:...\"; get it with: openssl x509 -noout -fingerprint -sha256 -in ca.crt", s)
}

// Verify checks the CA against a pin in any form [ParsePin] accepts. A
// mismatch wraps [ErrPinMismatch].
func (c CA) Verify(pin string) error {
	want, err := ParsePin(pin)
	if err != nil {
		return err
	}
	if c.SHA256 != want {
		return fmt.Errorf("%w: the registry presented a different CA than pinned: got %s (%s), pinned %s; check whether the registry's CA was replaced or the connection is intercepted before updating the pin",
			ErrPinMismatch, c.SHA256, c.Cert.Subject, want)
	}
	return nil
}

// Describe returns one line with the certificate's subject, issuer, expiry
// date (RFC 3339, UTC) and SHA-256 fingerprint. Names are quoted so that
// control characters in them cannot break the line.
func Describe(c *x509.Certificate) string {
	return fmt.Sprintf("subject=%q issuer=%q not-after=%s sha256=%s",
		c.Subject.String(), c.Issuer.String(), formatDate(c.NotAfter), Fingerprint(c))
}

func formatDate(t time.Time) string {
	return t.UTC().Format(time.DateOnly)
}

// ExpiryWarning returns a warning when the certificate is expired, not yet
// valid, or expires within window of now, and "" otherwise.
func ExpiryWarning(c *x509.Certificate, now time.Time, window time.Duration) string {
	name := fmt.Sprintf("%q", c.Subject.String())
	switch {
	case now.After(c.NotAfter):
		return fmt.Sprintf("certificate %s expired on %s, %s ago; replace it", name, formatDate(c.NotAfter), formatDays(now.Sub(c.NotAfter)))
	case now.Before(c.NotBefore):
		return fmt.Sprintf("certificate %s is not valid before %s, %s from now; check the clock of the machine that issued it", name, formatDate(c.NotBefore), formatDays(c.NotBefore.Sub(now)))
	case c.NotAfter.Sub(now) < window:
		return fmt.Sprintf("certificate %s expires on %s, in %s; renew it and run again", name, formatDate(c.NotAfter), formatDays(c.NotAfter.Sub(now)))
	}
	return ""
}

// formatDays rounds d down to whole days, or returns "less than a day".
func formatDays(d time.Duration) string {
	days := int(d / (24 * time.Hour))
	switch days {
	case 0:
		return "less than a day"
	case 1:
		return "1 day"
	}
	return fmt.Sprintf("%d days", days)
}

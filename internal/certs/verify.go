package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// verifyChain checks that the leaf, certs[0], is valid for name at now and
// chains to ca through the other certificates sent. The leaf's own problems
// are reported together, so that one reissue can fix all of them.
func verifyChain(certs []*x509.Certificate, ca *x509.Certificate, name string, now time.Time) error {
	leaf := certs[0]
	var problems []error
	if err := checkValidity(leaf, now); err != nil {
		problems = append(problems, err)
	}
	if err := checkName(leaf, name); err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return errors.Join(problems...)
	}

	roots := x509.NewCertPool()
	roots.AddCert(ca)
	intermediates := x509.NewCertPool()
	for _, c := range certs[1:] {
		if c != ca {
			intermediates.AddCert(c)
		}
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		DNSName:       name,
		Roots:         roots,
		Intermediates: intermediates,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return explainVerifyError(err, ca)
	}
	return nil
}

func checkValidity(c *x509.Certificate, now time.Time) error {
	switch {
	case now.After(c.NotAfter):
		return fmt.Errorf("certificate %q expired at %s (valid from %s); renew it",
			c.Subject.String(), formatTime(c.NotAfter), formatTime(c.NotBefore))
	case now.Before(c.NotBefore):
		return fmt.Errorf("certificate %q is not valid before %s; check the clocks of this machine and of the machine that issued it",
			c.Subject.String(), formatTime(c.NotBefore))
	}
	return nil
}

func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

// checkName explains why the leaf is not valid for name. Go matches names
// against subjectAltName entries only and never falls back to the Common
// Name, and an IP address matches only an IP SAN.
func checkName(leaf *x509.Certificate, name string) error {
	if leaf.VerifyHostname(name) == nil {
		return nil
	}
	_, err := netip.ParseAddr(name)
	isIP := err == nil
	want := "a SAN for " + name
	if isIP {
		want = "an IP SAN for " + name
	}
	sans := listSANs(leaf)
	switch {
	case len(leaf.DNSNames)+len(leaf.IPAddresses)+len(leaf.URIs)+len(leaf.EmailAddresses) == 0:
		return fmt.Errorf("certificate has no subjectAltName; Go ignores the Common Name %q; reissue it with %s", leaf.Subject.CommonName, want)
	case isIP && len(leaf.IPAddresses) == 0:
		return fmt.Errorf("certificate has no IP subjectAltName, so it is not valid for the IP address %s (its SANs: %s); reissue it with %s, or reach the registry by one of its names", name, sans, want)
	}
	return fmt.Errorf("certificate is not valid for %s (its SANs: %s); reissue it with %s, or reach the registry by one of the names it has", name, sans, want)
}

// listSANs lists the DNS and IP subjectAltNames in OpenSSL's notation.
func listSANs(c *x509.Certificate) string {
	var sans []string
	for _, n := range c.DNSNames {
		sans = append(sans, "DNS:"+n)
	}
	for _, ip := range c.IPAddresses {
		sans = append(sans, "IP:"+ip.String())
	}
	if len(sans) == 0 {
		return "none of type DNS or IP"
	}
	return strings.Join(sans, ", ")
}

func explainVerifyError(err error, ca *x509.Certificate) error {
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Cert != nil {
		subject := invalid.Cert.Subject.String()
		switch invalid.Reason {
		case x509.Expired:
			// Go's text names the current time, which adds nothing here.
			return fmt.Errorf("certificate %q in the chain is valid only from %s to %s; renew it",
				subject, formatTime(invalid.Cert.NotBefore), formatTime(invalid.Cert.NotAfter))
		case x509.IncompatibleUsage:
			return fmt.Errorf("the chain of %q does not allow server authentication; reissue it with extended key usage serverAuth: %w", subject, err)
		case x509.NotAuthorizedToSign:
			return fmt.Errorf("certificate %q signs other certificates but is not a CA; reissue the chain from a CA certificate: %w", subject, err)
		}
	}
	var unknown x509.UnknownAuthorityError
	if errors.As(err, &unknown) {
		return fmt.Errorf("the registry's certificate does not chain to the CA %q picked from what it sent; configure the registry to send its full chain, leaf first: %w", ca.Subject.String(), err)
	}
	return fmt.Errorf("verify certificate chain: %w", err)
}

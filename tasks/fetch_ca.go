package tasks

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/regtrust/regtrust/internal/certs"
)

// FetchCAName is the task that makes a registry's CA certificate known.
const FetchCAName = "fetch_ca"

// fetchCA reports the CA of a registry. The CA itself is fetched or loaded
// once per run on the controller, by ResolveCA, before any host is
// contacted, so that a pin mismatch stops the run with no host changed.
type fetchCA struct {
	registry *Registry
}

type fetchCAArgs struct {
	Registry string `yaml:"registry"`
	CAFile   string `yaml:"ca_file"`
	CAPEM    string `yaml:"ca_pem"`
	Via      string `yaml:"via"`
}

func newFetchCA(args *yaml.Node, env *Env) (Task, error) {
	var a fetchCAArgs
	if err := decodeArgs(args, &a, "registry", "ca_file", "ca_pem", "via"); err != nil {
		return nil, err
	}
	r, err := lookupRegistry(args, env, a.Registry)
	if err != nil {
		return nil, err
	}
	if a.CAFile != "" && a.CAPEM != "" {
		return nil, at(args, fmt.Errorf("give either ca_file or ca_pem, not both"))
	}
	if a.CAFile != "" {
		r.CAFile = ResolvePath(env.BaseDir, a.CAFile)
	}
	if a.CAPEM != "" {
		r.CAPEM = a.CAPEM
	}
	if a.Via != "" {
		r.Via = a.Via
	}
	if r.Via != "" && (r.CAFile != "" || r.CAPEM != "") {
		return nil, at(args, fmt.Errorf("via %q fetches the CA from the registry, but registry %s also has ca_file or ca_pem; keep one source", r.Via, r.Name))
	}
	return &fetchCA{registry: r}, nil
}

func (f *fetchCA) Registry() *Registry { return f.registry }

func (f *fetchCA) Probes(*Target) []Probe { return nil }

func (f *fetchCA) CheckApply(ctx context.Context, t *Target, apply bool) (Result, error) {
	r := f.registry
	if r.CA == nil {
		return Result{}, fmt.Errorf("internal error: CA of registry %s was not resolved", r.Name)
	}
	// The run's header already shows the fingerprint and its source, so
	// each host's line stays short.
	subject := fmt.Sprintf("CA %q", r.CA.Cert.Subject.String())
	if len(r.CAs) > 1 {
		subject = fmt.Sprintf("%d CA certificates, the first %q", len(r.CAs), r.CA.Cert.Subject.String())
	}
	msg := subject + ", not pinned"
	if r.Pin != "" {
		msg = subject + ", matches the pin"
	}
	return Result{Message: msg}, nil
}

// DialFunc opens a network connection, as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// DefaultExpiryWindow is how long before a CA or registry certificate
// expires a run starts to warn. Thirty days leave time to renew the
// certificate and roll it out.
const DefaultExpiryWindow = 30 * 24 * time.Hour

// ResolveCA sets r.CAs and r.CA from r.CAPEM, r.CAFile or, when neither is
// given, the chain the registry sends in a TLS handshake through dial
// (nil dials directly). A CA file may hold several certificates; with a
// pin, one of them must match it. A fetched CA that does not match the pin
// is rejected. Fetching over a connection that is not trusted yet is trust
// on first use, which is why the fingerprint is shown for pinning when no
// pin is set. Certificates that expire within window of now, or within
// r.ExpiryWindow when the registry sets one, add warnings.
func ResolveCA(ctx context.Context, r *Registry, dial DialFunc, window time.Duration, now time.Time) error {
	var cas []certs.CA
	var leaf *x509.Certificate
	var err error
	switch {
	case r.CAPEM != "":
		cas, err = certs.ParseCAPEM([]byte(r.CAPEM))
		if err != nil {
			return fmt.Errorf("registry %s: ca_pem: %w", r.Name, err)
		}
		r.CASource = "ca_pem"
	case r.CAFile != "":
		data, rerr := os.ReadFile(r.CAFile)
		if rerr != nil {
			return fmt.Errorf("registry %s: read ca_file: %w", r.Name, rerr)
		}
		cas, err = certs.ParseCAFile(r.CAFile, data)
		if err != nil {
			return fmt.Errorf("registry %s: %w", r.Name, err)
		}
		r.CASource = r.CAFile
	default:
		chain, ferr := certs.Fetch(ctx, r.Address, dial)
		if ferr != nil {
			return fmt.Errorf("registry %s: fetch CA from %s: %w", r.Name, r.Address, ferr)
		}
		cas = []certs.CA{chain.CA}
		leaf = chain.Certs[0]
		r.Warnings = append(r.Warnings, chain.Warnings...)
		r.CASource = "the TLS handshake with " + r.Address
		if r.Via != "" {
			r.CASource += " through " + r.Via
		}
	}
	if r.CAPEM != "" || r.CAFile != "" {
		warnings, err := checkGivenCAs(cas, now)
		if err != nil {
			return fmt.Errorf("registry %s: %s: %w", r.Name, r.CASource, err)
		}
		r.Warnings = append(r.Warnings, warnings...)
	}
	if r.Pin != "" {
		if err := verifyPin(cas, r.Pin); err != nil {
			return fmt.Errorf("registry %s: %s: %w", r.Name, r.CASource, err)
		}
	}
	if r.HasExpiryWindow {
		window = r.ExpiryWindow
	}
	r.Warnings = append(r.Warnings, ExpiryWarnings(cas, leaf, now, window)...)
	r.CAs = cas
	r.CA = &r.CAs[0]
	return nil
}

// checkGivenCAs rejects a certificate from ca_file or ca_pem that is
// neither a CA nor self-signed: it is a server certificate issued by some
// CA, and the file should hold that CA instead. A self-signed certificate
// without the CA flag is a registry's whole chain; it is accepted with a
// warning, because trusting it breaks when it is renewed.
//
// An expired CA, or one not valid yet, is rejected too: no client
// verifies a chain through it, so placing it could not fix a pull.
func checkGivenCAs(cas []certs.CA, now time.Time) ([]string, error) {
	var warnings []string
	for _, ca := range cas {
		c := ca.Cert
		if now.After(c.NotAfter) {
			return nil, fmt.Errorf("CA certificate %q expired on %s; get the renewed CA from the registry's operators", c.Subject.String(), c.NotAfter.UTC().Format("2006-01-02"))
		}
		if now.Before(c.NotBefore) {
			return nil, fmt.Errorf("CA certificate %q is not valid before %s; check the controller's clock or the certificate", c.Subject.String(), c.NotBefore.UTC().Format("2006-01-02 15:04 MST"))
		}
		if c.IsCA {
			continue
		}
		if c.CheckSignatureFrom(c) != nil {
			return nil, fmt.Errorf("certificate %q is not a CA certificate but one issued by %q; give the CA that issued it (the root), not the registry's own certificate", c.Subject.String(), c.Issuer.String())
		}
		warnings = append(warnings, fmt.Sprintf("certificate %q is a self-signed certificate, not a CA; hosts trust exactly this certificate, so they stop trusting the registry when it is renewed", c.Subject.String()))
	}
	return warnings, nil
}

// ExpiryWarnings warns about each CA, and the registry's leaf when it is
// given and is not the CA, that expired, is not valid yet, or expires
// within window of now.
func ExpiryWarnings(cas []certs.CA, leaf *x509.Certificate, now time.Time, window time.Duration) []string {
	var warnings []string
	for _, ca := range cas {
		if w := certs.ExpiryWarning(ca.Cert, now, window); w != "" {
			warnings = append(warnings, "CA "+w)
		}
	}
	if leaf != nil && (len(cas) == 0 || !leaf.Equal(cas[0].Cert)) {
		if w := certs.ExpiryWarning(leaf, now, window); w != "" {
			warnings = append(warnings, "the registry's "+w)
		}
	}
	return warnings
}

// verifyPin checks that one of cas matches pin. A single CA must match
// it exactly, as [certs.CA.Verify] checks.
func verifyPin(cas []certs.CA, pin string) error {
	if len(cas) == 1 {
		return cas[0].Verify(pin)
	}
	for _, ca := range cas {
		if ca.Verify(pin) == nil {
			return nil
		}
	}
	fingerprints := make([]string, len(cas))
	for i, ca := range cas {
		fingerprints[i] = ca.SHA256
	}
	return fmt.Errorf("%w: none of its %d certificates (%s) has the pinned fingerprint; pin one of them", certs.ErrPinMismatch, len(cas), strings.Join(fingerprints, ", "))
}

// LoadClientPair reads and checks the registry's client certificate pair,
// when it has one.
func LoadClientPair(r *Registry) error {
	if r.ClientCertFile == "" && r.ClientKeyFile == "" {
		return nil
	}
	if r.ClientCertFile == "" || r.ClientKeyFile == "" {
		return fmt.Errorf("registry %s: give both client_cert and client_key; dockerd rejects a lone client certificate or key", r.Name)
	}
	cert, err := os.ReadFile(r.ClientCertFile)
	if err != nil {
		return fmt.Errorf("registry %s: read client_cert: %w", r.Name, err)
	}
	key, err := os.ReadFile(r.ClientKeyFile)
	if err != nil {
		return fmt.Errorf("registry %s: read client_key: %w", r.Name, err)
	}
	if err := certs.ParseClientPair(cert, key); err != nil {
		return fmt.Errorf("registry %s: client pair %s and %s: %w", r.Name, r.ClientCertFile, r.ClientKeyFile, err)
	}
	r.ClientCert, r.ClientKey = cert, key
	return nil
}

func lookupRegistry(args *yaml.Node, env *Env, name string) (*Registry, error) {
	if name == "" {
		return nil, at(args, fmt.Errorf("missing argument registry: name one of the play's registries"))
	}
	r, ok := env.Registries[name]
	if !ok {
		known := make([]string, 0, len(env.Registries))
		for n := range env.Registries {
			known = append(known, n)
		}
		return nil, at(args, fmt.Errorf("registry %q is not defined in the play's registries (defined: %v)", name, sortedStrings(known)))
	}
	return r, nil
}

// ResolvePath makes a controller file name from a playbook absolute:
// "~/" is the user's home folder and a relative name is taken from base.
func ResolvePath(base, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if len(p) > 1 && p[:2] == "~/" {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[2:])
		}
	}
	return filepath.Join(base, p)
}

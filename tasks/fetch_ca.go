package tasks

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

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
}

func newFetchCA(args *yaml.Node, env *Env) (Task, error) {
	var a fetchCAArgs
	if err := decodeArgs(args, &a, "registry", "ca_file", "ca_pem"); err != nil {
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
	msg := fmt.Sprintf("CA %q, not pinned", r.CA.Cert.Subject.String())
	if r.Pin != "" {
		msg = fmt.Sprintf("CA %q, matches the pin", r.CA.Cert.Subject.String())
	}
	return Result{Message: msg}, nil
}

// DialFunc opens a network connection, as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// ResolveCA sets r.CA from r.CAPEM, r.CAFile or, when neither is given, the
// chain the registry sends in a TLS handshake through dial (nil dials
// directly). A CA that does not match r.Pin is rejected. Fetching over a
// connection that is not trusted yet is trust on first use, which is why
// the fingerprint is shown for pinning when no pin is set.
func ResolveCA(ctx context.Context, r *Registry, dial DialFunc) error {
	var cas []certs.CA
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
		r.Warnings = append(r.Warnings, chain.Warnings...)
		r.CASource = "the TLS handshake with " + r.Address
	}
	if len(cas) != 1 {
		return fmt.Errorf("registry %s: %s contains %d certificates; give exactly one CA certificate per registry", r.Name, r.CASource, len(cas))
	}
	ca := cas[0]
	if r.Pin != "" {
		if err := ca.Verify(r.Pin); err != nil {
			return fmt.Errorf("registry %s: %w", r.Name, err)
		}
	}
	r.CA = &ca
	return nil
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

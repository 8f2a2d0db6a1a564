package tasks

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/regtrust/regtrust/internal/certs"
)

// PlaceDockerCertName is the task that trusts a registry in Docker's
// certs.d folder.
const PlaceDockerCertName = "place_docker_cert"

// defaultCertsDir is where dockerd looks for per-registry trust. dockerd
// reads it at every pull, so a change there needs no restart. Rootless and
// snap installs use other folders, set with the docker_certs_dir variable.
const defaultCertsDir = "/etc/docker/certs.d"

// placeDockerCert writes certs.d/ADDRESS/ca.crt and, when the registry has
// a client pair, client.cert and client.key. dockerd treats every *.crt in
// the folder as a CA root and needs X.cert with a matching X.key.
type placeDockerCert struct {
	registry *Registry
}

type registryArgs struct {
	Registry string `yaml:"registry"`
}

func newPlaceDockerCert(args *yaml.Node, env *Env) (Task, error) {
	r, err := registryArgument(args, env)
	if err != nil {
		return nil, err
	}
	return &placeDockerCert{registry: r}, nil
}

// registryArgument decodes the arguments of a task whose only argument
// names one of the play's registries.
func registryArgument(args *yaml.Node, env *Env) (*Registry, error) {
	var a registryArgs
	if err := decodeArgs(args, &a, "registry"); err != nil {
		return nil, err
	}
	return lookupRegistry(args, env, a.Registry)
}

func (p *placeDockerCert) Registry() *Registry { return p.registry }

// certsFolder returns the registry's folder under the host's certs.d.
func (p *placeDockerCert) certsFolder(t *Target) (string, error) {
	dir, err := t.Var("docker_certs_dir", defaultCertsDir)
	if err != nil {
		return "", err
	}
	if err := validateRemoteDir("docker_certs_dir", dir); err != nil {
		return "", err
	}
	return path.Join(dir, p.registry.Address), nil
}

func (p *placeDockerCert) Probes(t *Target) []Probe {
	dir, err := p.certsFolder(t)
	if err != nil {
		return nil
	}
	return []Probe{
		{Path: dir},
		{Path: path.Join(dir, "ca.crt"), Content: true},
		{Path: path.Join(dir, "client.cert"), Content: true},
		// The key's content is never read back: its hash is enough to
		// compare, and it keeps the key out of every output.
		{Path: path.Join(dir, "client.key")},
	}
}

func (p *placeDockerCert) CheckApply(ctx context.Context, t *Target, apply bool) (Result, error) {
	r := p.registry
	if r.CA == nil {
		return Result{}, fmt.Errorf("internal error: CA of registry %s was not resolved", r.Name)
	}
	dir, err := p.certsFolder(t)
	if err != nil {
		return Result{}, err
	}
	files := []desiredFile{{path: path.Join(dir, "ca.crt"), data: r.CA.PEM, mode: 0o644, kind: certFile}}
	if r.ClientCert != nil {
		files = append(files,
			desiredFile{path: path.Join(dir, "client.cert"), data: r.ClientCert, mode: 0o644, kind: certFile},
			desiredFile{path: path.Join(dir, "client.key"), data: r.ClientKey, mode: 0o600, kind: secretFile},
		)
	}
	return converge(t, files)
}

type fileKind int

const (
	certFile fileKind = iota
	textFile
	secretFile
)

// desiredFile is the content and mode one remote file must have.
type desiredFile struct {
	path string
	data []byte
	mode fs.FileMode
	kind fileKind
}

// converge writes each file whose content or mode differs from the
// gathered state and describes the changes.
func converge(t *Target, files []desiredFile) (Result, error) {
	var res Result
	var changed []string
	var diffs []string
	for _, f := range files {
		st, err := t.File(f.path)
		if err != nil {
			return Result{}, err
		}
		if st.IsDir {
			return Result{}, fmt.Errorf("%s is a folder; remove it so the file can be written", f.path)
		}
		if st.Exists && st.SHA256 == sha256Hex(f.data) && st.Mode.Perm() == f.mode.Perm() {
			continue
		}
		diffs = append(diffs, describeFileChange(f, st))
		t.WriteFile(f.path, f.data, f.mode)
		changed = append(changed, f.path)
	}
	if len(changed) == 0 {
		res.Message = "up to date: " + files[0].path
		return res, nil
	}
	res.Changed = true
	res.Message = strings.Join(changed, ", ")
	res.Diff = strings.Join(diffs, "\n")
	return res, nil
}

// describeFileChange describes a change for --diff: certificates by
// subject, issuer, expiry and fingerprint, secrets not at all.
func describeFileChange(f desiredFile, st *FileState) string {
	var b strings.Builder
	switch {
	case !st.Exists:
		fmt.Fprintf(&b, "create %s (mode %04o)", f.path, f.mode.Perm())
	case st.SHA256 == sha256Hex(f.data):
		fmt.Fprintf(&b, "change mode of %s from %04o to %04o", f.path, st.Mode.Perm(), f.mode.Perm())
		return b.String()
	default:
		fmt.Fprintf(&b, "replace %s (mode %04o)", f.path, f.mode.Perm())
	}
	switch f.kind {
	case secretFile:
		b.WriteString("\n    private key: content not shown")
	case certFile:
		if st.Exists && st.ContentRead {
			for _, line := range describePEM(st.Content) {
				b.WriteString("\n    - " + line)
			}
		}
		for _, line := range describePEM(f.data) {
			b.WriteString("\n    + " + line)
		}
	case textFile:
	}
	return b.String()
}

// describePEM describes each certificate in data on a line of its own.
func describePEM(data []byte) []string {
	var lines []string
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			lines = append(lines, "(a "+strings.ToLower(block.Type)+" block, not shown)")
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			lines = append(lines, "(an unreadable certificate)")
			continue
		}
		lines = append(lines, certs.Describe(c))
	}
	if len(lines) == 0 {
		lines = append(lines, "(no PEM certificate)")
	}
	return lines
}

// validateRemoteDir checks a folder given in a host variable. It must be
// absolute and clean, because task file names are joined to it.
func validateRemoteDir(name, dir string) error {
	if !path.IsAbs(dir) || path.Clean(dir) != dir || strings.ContainsAny(dir, "\n\r\t\x00") {
		return fmt.Errorf("host variable %s=%q must be an absolute, clean path such as %s", name, dir, defaultCertsDir)
	}
	return nil
}

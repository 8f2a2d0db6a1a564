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
	"github.com/regtrust/regtrust/internal/daemonjson"
)

// PlaceDockerCertName is the task that trusts a registry in the certs.d
// folder of the host's container runtime.
const PlaceDockerCertName = "place_docker_cert"

// defaultCertsDir is the folder of dockerd's per-registry trust. dockerd
// reads it at every pull, so a change there needs no restart.
const defaultCertsDir = "/etc/docker/certs.d"

// placeDockerCert writes certs.d/ADDRESS/ca.crt and, when the registry has
// a client pair, client.cert and client.key, in the folder of the runtime
// that the container_runtime variable names (Docker by default). dockerd
// treats every *.crt in the folder as a CA root and needs X.cert with a
// matching X.key. For containerd it also writes or merges hosts.toml,
// which points containerd to those files.
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

// registryFiles are the names of the files in a registry's certs.d folder.
var registryFiles = struct{ ca, cert, key, hosts string }{"ca.crt", "client.cert", "client.key", "hosts.toml"}

func (p *placeDockerCert) Probes(t *Target) []Probe {
	rt, err := hostRuntime(t)
	if err != nil {
		return nil
	}
	root, base, err := rt.certsRoot(t)
	if err != nil {
		return nil
	}
	addr := p.registry.Address
	probes := []Probe{
		{Path: addr},
		{Path: path.Join(addr, registryFiles.ca), Content: true},
		{Path: path.Join(addr, registryFiles.cert), Content: true},
		// The key's content is never read back: its hash is enough to
		// compare, and it keeps the key out of every output.
		{Path: path.Join(addr, registryFiles.key)},
	}
	if rt.hostsTOML {
		probes = append(probes, Probe{Path: path.Join(addr, registryFiles.hosts), Content: true})
	}
	for i := range probes {
		if base != "" {
			probes[i].Base = base
		} else {
			probes[i].Path = path.Join(root, probes[i].Path)
		}
	}
	if base != "" {
		probes = append(probes, Probe{Key: base, Script: rootlessDirScript})
	}
	return probes
}

func (p *placeDockerCert) CheckApply(ctx context.Context, t *Target, apply bool) (Result, error) {
	r := p.registry
	if r.CA == nil {
		return Result{}, fmt.Errorf("internal error: CA of registry %s was not resolved", r.Name)
	}
	rt, err := hostRuntime(t)
	if err != nil {
		return Result{}, err
	}
	root, _, err := rt.certsRoot(t)
	if err != nil {
		return Result{}, err
	}
	if root == "" {
		return Result{}, fmt.Errorf("internal error: the certs.d folder of %s was not gathered", rt.name)
	}
	dir := path.Join(root, r.Address)
	caPath := path.Join(dir, registryFiles.ca)
	files := []desiredFile{{path: caPath, data: r.CABundle(), mode: 0o644, kind: certFile}}
	var client []string
	if r.ClientCert != nil {
		client = []string{path.Join(dir, registryFiles.cert), path.Join(dir, registryFiles.key)}
		files = append(files,
			desiredFile{path: client[0], data: r.ClientCert, mode: 0o644, kind: certFile},
			desiredFile{path: client[1], data: r.ClientKey, mode: 0o600, kind: secretFile},
		)
	}
	if rt.hostsTOML {
		hostsPath := path.Join(dir, registryFiles.hosts)
		st, err := t.File(hostsPath)
		if err != nil {
			return Result{}, err
		}
		data, err := containerdHostsFile(hostsPath, st, r.Address, caPath, client)
		if err != nil {
			return Result{}, err
		}
		files = append(files, desiredFile{path: hostsPath, data: data, mode: 0o644, kind: textFile})
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
		var before []byte
		if st.Exists && st.ContentRead {
			before = st.Content
		}
		b.WriteString("\n" + strings.TrimRight(daemonjson.Diff(f.path, before, f.data), "\n"))
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

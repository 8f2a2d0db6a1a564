package playbook

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/regtrust/regtrust/internal/certs"
	"github.com/regtrust/regtrust/tasks"
)

// maxPlaybookSize bounds the playbook file. Real playbooks are a few
// kilobytes; the bound keeps a wrong file name (a disk image, a log) from
// being read into memory.
const maxPlaybookSize = 8 << 20

// Load reads, decodes and validates the playbook in file. Every error names
// the file, and where it can, the line and column and what to change. Load
// contacts no host and no registry.
func Load(file string) (*Playbook, error) {
	info, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("read playbook: %w", err)
	}
	if info.IsDir() {
		return nil, fmt.Errorf("read playbook %s: it is a folder; give the playbook's YAML file", file)
	}
	if info.Size() > maxPlaybookSize {
		return nil, fmt.Errorf("read playbook %s: it is %d bytes, more than the %d bytes a playbook may have", file, info.Size(), maxPlaybookSize)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read playbook: %w", err)
	}
	return Parse(file, data)
}

// Parse decodes and validates a playbook read from file.
func Parse(file string, data []byte) (*Playbook, error) {
	l := &loader{file: file, baseDir: filepath.Dir(file)}
	pb, err := l.parse(data)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	pb.SHA256 = hex.EncodeToString(sum[:])
	return pb, nil
}

type loader struct {
	file    string
	baseDir string
}

// errorAt returns an error that names the file and n's position.
func (l *loader) errorAt(n *yaml.Node, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if n == nil {
		return fmt.Errorf("%s: %s", l.file, msg)
	}
	return fmt.Errorf("%s:%d:%d: %s", l.file, n.Line, n.Column, msg)
}

// wrap adds the file name and, unless err already carries one, n's
// position to err. The prefix, when not empty, names what failed.
func (l *loader) wrap(n *yaml.Node, prefix string, err error) error {
	if prefix != "" {
		prefix += ": "
	}
	var pe *tasks.PositionError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s:%d:%d: %s%v", l.file, pe.Line, pe.Column, prefix, pe.Err)
	}
	return l.errorAt(n, "%s%v", prefix, err)
}

func (l *loader) parse(data []byte) (*Playbook, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s: the playbook is empty; write a list of plays, each with hosts and tasks", l.file)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: invalid YAML: %s", l.file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, l.errorAt(&extra, "a second YAML document; a playbook is one list of plays")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.SequenceNode {
		return nil, l.errorAt(root, "a playbook is a list of plays (each starting with \"- name:\"), not %s", kindName(root))
	}
	if len(root.Content) == 0 {
		return nil, l.errorAt(root, "the playbook has no plays")
	}
	pb := &Playbook{File: l.file}
	for _, n := range root.Content {
		p, err := l.play(n)
		if err != nil {
			return nil, err
		}
		pb.Plays = append(pb.Plays, p)
	}
	return pb, nil
}

var playKeys = []string{"name", "hosts", "vars", "become", "become_user", "serial", "max_fail_percentage", "any_errors_fatal", "registries", "tasks", "handlers"}

func (l *loader) play(n *yaml.Node) (*Play, error) {
	if n.Kind != yaml.MappingNode {
		return nil, l.errorAt(n, "a play is a mapping with hosts, registries, tasks and handlers, not %s", kindName(n))
	}
	fields, err := l.fields(n, playKeys, "play")
	if err != nil {
		return nil, err
	}
	p := &Play{Registries: map[string]*tasks.Registry{}}
	if v := fields["name"]; v != nil {
		if p.Name, err = l.scalar(v, "name"); err != nil {
			return nil, err
		}
	}
	hosts := fields["hosts"]
	if hosts == nil {
		return nil, l.errorAt(n, "play %q has no hosts; add hosts: with a group, a host or all", p.Name)
	}
	if p.Hosts, err = l.hostPattern(hosts); err != nil {
		return nil, err
	}
	if strings.TrimSpace(p.Hosts) == "" {
		return nil, l.errorAt(hosts, "hosts is empty; name a group, a host or all")
	}
	if p.Name == "" {
		p.Name = p.Hosts
	}
	if v := fields["vars"]; v != nil {
		if p.Vars, err = l.playVars(v); err != nil {
			return nil, err
		}
	}
	if err := l.rollout(fields, p); err != nil {
		return nil, err
	}
	if v := fields["become"]; v != nil {
		if err := v.Decode(&p.Become); err != nil || v.Kind != yaml.ScalarNode {
			return nil, l.errorAt(v, "become must be true or false, not %s", describeValue(v))
		}
	}
	if v := fields["become_user"]; v != nil {
		if p.BecomeUser, err = l.scalar(v, "become_user"); err != nil {
			return nil, err
		}
	}
	if v := fields["registries"]; v != nil {
		if err := l.registries(v, p); err != nil {
			return nil, err
		}
	}
	env := &tasks.Env{Registries: p.Registries, BaseDir: l.baseDir}
	taskNode, handlerNode := fields["tasks"], fields["handlers"]
	if taskNode == nil && handlerNode == nil {
		if len(p.Registries) == 0 {
			return nil, l.errorAt(n, "play %q has neither tasks nor registries; add tasks, or registries with a trust list", p.Name)
		}
		if err := expandShortForm(p, env); err != nil {
			return nil, l.wrap(n, "", err)
		}
	} else {
		for name, r := range p.Registries {
			if r.Trust != nil {
				return nil, l.errorAt(fields["registries"], "registry %q has trust:, which only a play without tasks uses; remove trust: or the play's tasks", name)
			}
		}
		if p.Tasks, err = l.steps(taskNode, env, "task"); err != nil {
			return nil, err
		}
		if p.Handlers, err = l.steps(handlerNode, env, "handler"); err != nil {
			return nil, err
		}
	}
	if err := l.checkPlay(n, p); err != nil {
		return nil, err
	}
	return p, nil
}

// hostPattern reads a play's hosts: a pattern, or, as Ansible also
// accepts, a list of patterns, which selects their union.
func (l *loader) hostPattern(n *yaml.Node) (string, error) {
	if n.Kind != yaml.SequenceNode {
		return l.scalar(n, "hosts")
	}
	parts := make([]string, 0, len(n.Content))
	for _, item := range n.Content {
		part, err := l.scalar(item, "each entry of hosts")
		if err != nil {
			return "", err
		}
		if strings.Contains(part, ",") {
			return "", l.errorAt(item, "hosts entry %q contains a comma; give one pattern per list entry", part)
		}
		if strings.TrimSpace(part) != "" {
			parts = append(parts, strings.TrimSpace(part))
		}
	}
	return strings.Join(parts, ","), nil
}

// fields returns the values of a mapping by key, rejecting unknown and
// repeated keys.
func (l *loader) fields(n *yaml.Node, allowed []string, what string) (map[string]*yaml.Node, error) {
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(allowed, k.Value) {
			return nil, l.errorAt(k, "unknown %s key %q; allowed keys: %s", what, k.Value, strings.Join(allowed, ", "))
		}
		if _, dup := out[k.Value]; dup {
			return nil, l.errorAt(k, "%s key %q is given twice", what, k.Value)
		}
		out[k.Value] = v
	}
	return out, nil
}

// describeValue shows a node for an error message: a scalar quoted, any
// other node by its kind.
func describeValue(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return fmt.Sprintf("%q", n.Value)
	}
	return kindName(n)
}

func (l *loader) scalar(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", l.errorAt(n, "%s must be a string, not %s", what, kindName(n))
	}
	return n.Value, nil
}

var registryKeys = []string{"address", "ca_sha256", "ca_file", "ca_pem", "client_cert", "client_key", "trust", "via", "expiry_warning"}

// playVars reads a play's vars: a mapping of names to strings, numbers or
// booleans, which tasks read as text. Connection settings (ansible_*) are
// rejected, because hosts are connected to before any play runs.
func (l *loader) playVars(n *yaml.Node) (map[string]string, error) {
	if n.Kind != yaml.MappingNode {
		return nil, l.errorAt(n, "vars must be a mapping of names to values, such as {container_runtime: containerd}, not %s", kindName(n))
	}
	vars := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if strings.HasPrefix(k.Value, "ansible_") {
			return nil, l.errorAt(k, "play variable %q is a connection setting, which only the inventory may set; move it to the inventory", k.Value)
		}
		if _, dup := vars[k.Value]; dup {
			return nil, l.errorAt(k, "play variable %q is given twice", k.Value)
		}
		if v.Kind != yaml.ScalarNode {
			return nil, l.errorAt(v, "play variable %q must be a string, number or boolean, not %s", k.Value, kindName(v))
		}
		vars[k.Value] = v.Value
		if v.Tag == "!!null" {
			vars[k.Value] = ""
		}
	}
	return vars, nil
}

func (l *loader) registries(n *yaml.Node, p *Play) error {
	if n.Kind != yaml.MappingNode {
		return l.errorAt(n, "registries must be a mapping of names to registries, such as gitlab: {address: gitlab.example.com:4567}, not %s", kindName(n))
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if err := tasks.ValidateRegistryName(k.Value); err != nil {
			return l.errorAt(k, "%v", err)
		}
		if _, dup := p.Registries[k.Value]; dup {
			return l.errorAt(k, "registry %q is defined twice", k.Value)
		}
		r, err := l.registry(k.Value, v)
		if err != nil {
			return err
		}
		p.Registries[k.Value] = r
		p.RegistryOrder = append(p.RegistryOrder, k.Value)
	}
	return nil
}

func (l *loader) registry(name string, n *yaml.Node) (*tasks.Registry, error) {
	if n.Kind != yaml.MappingNode {
		return nil, l.errorAt(n, "registry %q must be a mapping with at least address:, not %s", name, kindName(n))
	}
	f, err := l.fields(n, registryKeys, "registry")
	if err != nil {
		return nil, err
	}
	r := &tasks.Registry{Name: name}
	str := func(key string) (string, error) {
		if v := f[key]; v != nil {
			return l.scalar(v, key)
		}
		return "", nil
	}
	if r.Address, err = str("address"); err != nil {
		return nil, err
	}
	if f["address"] == nil {
		return nil, l.errorAt(n, "registry %q has no address; add address: host[:port] as written in image references", name)
	}
	if err := tasks.ValidateAddress(r.Address); err != nil {
		return nil, l.errorAt(f["address"], "%v", err)
	}
	pin, err := str("ca_sha256")
	if err != nil {
		return nil, err
	}
	if pin != "" {
		if r.Pin, err = certs.ParsePin(pin); err != nil {
			return nil, l.errorAt(f["ca_sha256"], "registry %q: %v", name, err)
		}
	}
	caFile, err := str("ca_file")
	if err != nil {
		return nil, err
	}
	r.CAFile = tasks.ResolvePath(l.baseDir, caFile)
	if r.CAPEM, err = str("ca_pem"); err != nil {
		return nil, err
	}
	if r.CAFile != "" && r.CAPEM != "" {
		return nil, l.errorAt(n, "registry %q has both ca_file and ca_pem; keep one", name)
	}
	cert, err := str("client_cert")
	if err != nil {
		return nil, err
	}
	key, err := str("client_key")
	if err != nil {
		return nil, err
	}
	r.ClientCertFile, r.ClientKeyFile = tasks.ResolvePath(l.baseDir, cert), tasks.ResolvePath(l.baseDir, key)
	if r.Via, err = str("via"); err != nil {
		return nil, err
	}
	if r.Via != "" && (r.CAFile != "" || r.CAPEM != "") {
		return nil, l.errorAt(f["via"], "registry %q: via fetches the CA from the registry, so it does not go with ca_file or ca_pem; keep one", name)
	}
	window, err := str("expiry_warning")
	if err != nil {
		return nil, err
	}
	if f["expiry_warning"] != nil {
		if r.ExpiryWindow, err = tasks.ParseExpiryWindow(window); err != nil {
			return nil, l.errorAt(f["expiry_warning"], "registry %q: %v", name, err)
		}
		r.HasExpiryWindow = true
	}
	if v := f["trust"]; v != nil {
		if r.Trust, err = l.trustList(name, v); err != nil {
			return nil, err
		}
	}
	return r, nil
}

var trustKinds = []string{"docker", "system", "insecure"}

func (l *loader) trustList(name string, n *yaml.Node) ([]string, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, l.errorAt(n, "registry %q: trust must be a list such as [docker, system], not %s", name, kindName(n))
	}
	list := []string{}
	for _, item := range n.Content {
		if item.Kind != yaml.ScalarNode || !slices.Contains(trustKinds, item.Value) {
			return nil, l.errorAt(item, "registry %q: unknown trust kind %q; use %s", name, item.Value, strings.Join(trustKinds, ", "))
		}
		if slices.Contains(list, item.Value) {
			return nil, l.errorAt(item, "registry %q: trust kind %q is listed twice", name, item.Value)
		}
		list = append(list, item.Value)
	}
	if len(list) == 0 {
		return nil, l.errorAt(n, "registry %q: trust is empty; list at least one of %s", name, strings.Join(trustKinds, ", "))
	}
	return list, nil
}

var stepKeys = []string{"name", "notify"}

func (l *loader) steps(n *yaml.Node, env *tasks.Env, what string) ([]*Step, error) {
	if n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, l.errorAt(n, "%ss must be a list, each item a mapping such as - place_docker_cert: {registry: NAME}, not %s", what, kindName(n))
	}
	var steps []*Step
	for _, item := range n.Content {
		s, err := l.step(item, env, what)
		if err != nil {
			return nil, err
		}
		steps = append(steps, s)
	}
	return steps, nil
}

func (l *loader) step(n *yaml.Node, env *tasks.Env, what string) (*Step, error) {
	if n.Kind == yaml.ScalarNode && tasks.Known(n.Value) {
		return nil, l.errorAt(n, "write the %s as a mapping: - %s:", what, n.Value)
	}
	if n.Kind != yaml.MappingNode {
		return nil, l.errorAt(n, "a %s is a mapping such as - place_docker_cert: {registry: NAME}, not %s", what, kindName(n))
	}
	s := &Step{Line: n.Line}
	var typeKey, args *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case k.Value == "name":
			name, err := l.scalar(v, "name")
			if err != nil {
				return nil, err
			}
			s.Name = name
		case k.Value == "notify":
			list, err := l.stringList(v, "notify")
			if err != nil {
				return nil, err
			}
			s.Notify = list
		case tasks.Known(k.Value):
			if typeKey != nil {
				return nil, l.errorAt(k, "this %s names two tasks, %s and %s; write each as a list item of its own", what, typeKey.Value, k.Value)
			}
			typeKey, args = k, v
		default:
			return nil, l.errorAt(k, "unknown task or key %q; tasks: %s; keys: %s", k.Value, strings.Join(tasks.Names(), ", "), strings.Join(stepKeys, ", "))
		}
	}
	if typeKey == nil {
		return nil, l.errorAt(n, "this %s names no task; use one of %s", what, strings.Join(tasks.Names(), ", "))
	}
	s.Type = typeKey.Value
	if s.Name == "" {
		s.Name = s.Type
	}
	t, err := tasks.New(s.Type, args, env)
	if err != nil {
		return nil, l.wrap(typeKey, s.Type, err)
	}
	s.Task = t
	return s, nil
}

func (l *loader) stringList(n *yaml.Node, what string) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Value == "" {
			return nil, l.errorAt(n, "%s is empty", what)
		}
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		var out []string
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode || item.Value == "" {
				return nil, l.errorAt(item, "%s must list handler names", what)
			}
			out = append(out, item.Value)
		}
		return out, nil
	}
	return nil, l.errorAt(n, "%s must be a handler name or a list of them, not %s", what, kindName(n))
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "an empty value"
		}
		return fmt.Sprintf("the value %q", n.Value)
	case yaml.AliasNode:
		return "an alias"
	}
	return "an empty document"
}

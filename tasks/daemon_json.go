package tasks

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/regtrust/regtrust/internal/daemonjson"
)

// DaemonJSONName is the task that lists registries in insecure-registries.
const DaemonJSONName = "daemon_json_insecure"

const defaultDaemonJSON = "/etc/docker/daemon.json"

// daemonJSONInsecure merges entries into insecure-registries in
// daemon.json, keeping every other key. dockerd skips certificate checks
// for these registries entirely, and also ignores their certs.d folder,
// so it is the last resort. SIGHUP makes dockerd reread the list.
type daemonJSONInsecure struct {
	entries []string
	absent  bool
}

type daemonJSONArgs struct {
	Registries []string `yaml:"registries"`
	State      string   `yaml:"state"`
}

func newDaemonJSONInsecure(args *yaml.Node, env *Env) (Task, error) {
	var a daemonJSONArgs
	if err := decodeArgs(args, &a, "registries", "state"); err != nil {
		return nil, err
	}
	if len(a.Registries) == 0 {
		return nil, at(args, fmt.Errorf("missing argument registries: list entries such as [\"legacy.example.com:5000\"]"))
	}
	d := &daemonJSONInsecure{}
	switch a.State {
	case "", "present":
	case "absent":
		d.absent = true
	default:
		return nil, at(args, fmt.Errorf("invalid state %q: use present or absent", a.State))
	}
	for _, e := range a.Registries {
		n, err := daemonjson.NormalizeRegistry(e)
		if err != nil {
			return nil, at(args, err)
		}
		d.entries = append(d.entries, n)
	}
	return d, nil
}

func daemonJSONPath(t *Target) (string, error) {
	p, err := t.Var("docker_daemon_json", defaultDaemonJSON)
	if err != nil {
		return "", err
	}
	if !path.IsAbs(p) || path.Clean(p) != p {
		return "", fmt.Errorf("host variable docker_daemon_json=%q must be an absolute, clean path such as %s", p, defaultDaemonJSON)
	}
	return p, nil
}

func (d *daemonJSONInsecure) Probes(t *Target) []Probe {
	p, err := daemonJSONPath(t)
	if err != nil {
		return nil
	}
	return []Probe{{Path: p, Content: true}}
}

func (d *daemonJSONInsecure) CheckApply(ctx context.Context, t *Target, apply bool) (Result, error) {
	p, err := daemonJSONPath(t)
	if err != nil {
		return Result{}, err
	}
	st, err := t.File(p)
	if err != nil {
		return Result{}, err
	}
	if st.IsDir {
		return Result{}, fmt.Errorf("%s is a folder, not a file", p)
	}
	var orig []byte
	mode := fs.FileMode(0o644)
	if st.Exists {
		if !st.ContentRead {
			return Result{}, fmt.Errorf("%s is larger than %d bytes; regtrust does not edit it", p, maxContent)
		}
		// A non-nil slice tells MergeInsecure that the file exists, even
		// when it is empty.
		orig = append([]byte{}, st.Content...)
		mode = st.Mode.Perm()
	}
	add, remove := d.entries, []string(nil)
	if d.absent {
		add, remove = nil, d.entries
	}
	out, changed, err := daemonjson.MergeInsecure(orig, add, remove)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w; regtrust left it unchanged", p, err)
	}
	if !changed {
		return Result{Message: "up to date: " + p}, nil
	}
	var oldText []byte
	if st.Exists {
		oldText = orig
	}
	t.WriteFile(p, out, mode)
	t.NeedReload("insecure-registries changed in " + p)
	verb := "add"
	if d.absent {
		verb = "remove"
	}
	return Result{
		Changed: true,
		Message: fmt.Sprintf("%s %s in insecure-registries of %s", verb, strings.Join(d.entries, ", "), p),
		Diff:    daemonjson.Diff(strings.TrimPrefix(p, "/"), oldText, out),
	}, nil
}

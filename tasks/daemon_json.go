package tasks

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
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
	return []Probe{{Path: p, Content: true}, dockerdProbe(t)}
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
		// A non-nil slice marks for MergeInsecure that the file exists, even
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
	var before []byte
	if st.Exists {
		before = orig
	}

	dockerd, err := readDockerd(t)
	if err != nil {
		return Result{}, err
	}
	if err := checkDockerdReads(p, out, dockerd); err != nil {
		return Result{}, err
	}
	if err := needDaemonAction(t, p, before, out); err != nil {
		return Result{}, err
	}

	backup := p + backupSuffix
	opts := []WriteOption{WithBackup(backup)}
	// A running dockerd reloads or restarts with the new file in this
	// run, which is when a file it rejects takes the host down, so the
	// file is validated first. A stopped dockerd reads it at its next
	// start; validating for it would start the large dockerd binary on
	// every changed host for nothing this run does.
	if dockerd.pid != 0 {
		opts = append(opts, WithCheck("dockerd --validate", validateCommand))
	}
	t.WriteFile(p, out, mode, opts...)
	if err := t.noteDaemonJSON(p, backup, st.Exists, before, out); err != nil {
		return Result{}, err
	}
	verb := "add"
	if d.absent {
		verb = "remove"
	}
	return Result{
		Changed: true,
		Message: fmt.Sprintf("%s %s in insecure-registries of %s (previous file kept as %s)", verb, strings.Join(d.entries, ", "), p, backup),
		Diff:    daemonjson.Diff(strings.TrimPrefix(p, "/"), before, out),
	}, nil
}

// backupSuffix names the copy of daemon.json's previous content, kept
// beside it so that a failed restart can be rolled back.
const backupSuffix = ".regtrust-backup"

// validateCommand checks the daemon configuration file given as its
// last argument without starting anything, with dockerd --validate, which
// dockerd has since Docker 23.0. Where dockerd lacks it (it then fails
// with "unknown flag: --validate"), the command accepts the file. Trying
// the flag once costs one start of dockerd instead of asking --help first.
// NOTE: Debian 12's docker.io (dockerd 20.10) lacks --validate. There
// regtrust relies on its own JSON and flag checks, and on rolling back a
// restart that fails.
const validateCommand = `sh -c 'command -v dockerd >/dev/null 2>&1 || exit 0; out=$(dockerd --validate --config-file "$1" 2>&1) && exit 0; case "$out" in *"unknown flag: --validate"*) exit 0 ;; esac; printf "%s\n" "$out"; exit 1' validate`

// checkDockerdReads rejects a new daemon.json that dockerd would fail to
// start with or would never read. The first sets a key that dockerd is
// also given as a command-line flag. The second lies elsewhere than the
// --config-file of the running dockerd.
func checkDockerdReads(p string, content []byte, d dockerdState) error {
	if other := d.configFileFlag(); other != "" && other != p {
		return fmt.Errorf("the running dockerd (pid %d) reads its configuration from %s (--config-file), not %s; set the host variable docker_daemon_json=%s; regtrust left %s unchanged", d.pid, other, p, other, p)
	}
	keys, err := daemonjson.Keys(content)
	if err != nil {
		return fmt.Errorf("%s: %w; regtrust left it unchanged", p, err)
	}
	conflicts := daemonjson.Conflicts(keys, d.flagSources())
	if len(conflicts) == 0 {
		return nil
	}
	var lines []string
	for _, c := range conflicts {
		lines = append(lines, c.String())
	}
	return fmt.Errorf("%s: %s; dockerd fails to start, and fails to reload, when a setting is both a flag and a daemon.json key, so regtrust left %s unchanged; remove the flag, then run again", p, strings.Join(lines, "; "), p)
}

// needDaemonAction records what dockerd must do for the change from
// before to after: a reload when every changed key is one that dockerd
// reloads, else a restart.
func needDaemonAction(t *Target, p string, before, after []byte) error {
	keys, err := daemonjson.ChangedKeys(before, after)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	for _, k := range keys {
		if daemonjson.Reloadable(k) {
			t.NeedReload(k + " changed in " + p)
		} else {
			t.NeedRestart(k + " changed in " + p + ", and dockerd reads it only at start")
		}
	}
	return nil
}

// noteDaemonJSON records a daemon.json change for the restart handler:
// the backup a failed restart restores, and the insecure-registries
// entries that dockerd must list or stop listing afterwards. A second
// change of the same file in one run keeps the first backup.
func (t *Target) noteDaemonJSON(p, backup string, existed bool, before, after []byte) error {
	if t.daemon.DaemonJSON == nil || t.daemon.DaemonJSON.Path != p {
		t.daemon.DaemonJSON = &daemonJSONChange{Path: p, Backup: backup, Existed: existed}
	}
	old, _, err := daemonjson.InsecureRegistries(before)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	cur, _, err := daemonjson.InsecureRegistries(after)
	if err != nil {
		return fmt.Errorf("new %s: %w", p, err)
	}
	added, removed := daemonjson.EntryDiff(old, cur)
	for _, e := range added {
		name := daemonjson.ListedName(e)
		t.daemon.InsecureAdded = appendOnce(t.daemon.InsecureAdded, name)
		t.daemon.InsecureRemoved = slices.DeleteFunc(t.daemon.InsecureRemoved, func(s string) bool { return s == name })
	}
	for _, e := range removed {
		name := daemonjson.ListedName(e)
		t.daemon.InsecureRemoved = appendOnce(t.daemon.InsecureRemoved, name)
		t.daemon.InsecureAdded = slices.DeleteFunc(t.daemon.InsecureAdded, func(s string) bool { return s == name })
	}
	return nil
}

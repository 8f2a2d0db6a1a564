package tasks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/regtrust/regtrust/internal/sshx"
)

// Conn is the part of an SSH connection that tasks use. *sshx.Client
// implements it.
type Conn interface {
	Run(ctx context.Context, cmd string, stdin io.Reader) (sshx.Result, error)
	Upload(ctx context.Context, path string, mode fs.FileMode, data []byte) error
}

// Vars are a host's inventory variables.
type Vars interface {
	StringVar(name string) (value string, ok bool, err error)
}

// tempMarker is part of every temporary file name, so that temporary files
// that an interrupted run left behind can be found and removed.
const tempMarker = ".regtrust-tmp-"

// cleanupTimeout bounds the removal of temporary files after a failed
// write, which runs even when the run's context is cancelled.
const cleanupTimeout = 10 * time.Second

// Target is one host during a run: its connection, its variables, the
// state gathered from it and the changes made to it so far. A Target is
// used by one goroutine at a time.
type Target struct {
	Name string
	Vars Vars

	conn   Conn
	apply  bool
	become Become

	files   map[string]*FileState
	facts   map[string]string
	stale   []string // temporary files left behind by an earlier run
	pending []pendingWrite

	// anchorsChanged is set when a CA was written to the OS trust store's
	// anchor folder and the store has not been rebuilt since.
	anchorsChanged bool

	restartReasons []string
	reloadReasons  []string
}

type pendingWrite struct {
	path string
	mode fs.FileMode
	data []byte
}

// NewTarget returns a Target for the host name reached through conn. With
// apply false the Target never changes the host: writes and commands that
// change state only update the Target's view of the host.
func NewTarget(name string, vars Vars, conn Conn, apply bool) *Target {
	return &Target{
		Name:  name,
		Vars:  vars,
		conn:  conn,
		apply: apply,
		files: map[string]*FileState{},
		facts: map[string]string{},
	}
}

// Applying reports whether the Target changes the host.
func (t *Target) Applying() bool { return t.apply }

// Var returns the host variable name, or def when it is not set.
func (t *Target) Var(name, def string) (string, error) {
	if t.Vars == nil {
		return def, nil
	}
	v, ok, err := t.Vars.StringVar(name)
	if err != nil {
		return "", fmt.Errorf("host variable %s: %w", name, err)
	}
	if !ok || v == "" {
		return def, nil
	}
	return v, nil
}

// File returns the gathered state of p. It fails when p was not probed,
// which is a bug in the task that reads it.
func (t *Target) File(p string) (*FileState, error) {
	st, ok := t.files[p]
	if !ok {
		return nil, fmt.Errorf("internal error: %s was not gathered before it was read", p)
	}
	return st, nil
}

// Fact returns the output of the probe script registered under key.
func (t *Target) Fact(key string) (string, error) {
	v, ok := t.facts[key]
	if !ok {
		return "", fmt.Errorf("internal error: fact %q was not gathered before it was read", key)
	}
	return v, nil
}

// WriteFile records that p must hold data with mode. When the Target
// applies, the write is queued and made by Flush, atomically: the content
// goes to a temporary file in the same folder, created with mode, and is
// then renamed over p. In check mode only the Target's view changes, so
// later tasks see the planned state.
func (t *Target) WriteFile(p string, data []byte, mode fs.FileMode) {
	t.files[p] = &FileState{
		Exists:      true,
		Mode:        mode,
		Size:        int64(len(data)),
		SHA256:      sha256Hex(data),
		Content:     data,
		ContentRead: true,
	}
	if dir := path.Dir(p); t.files[dir] == nil || !t.files[dir].Exists {
		t.files[dir] = &FileState{Exists: true, IsDir: true, Mode: 0o755}
	}
	if !t.apply {
		return
	}
	for i := range t.pending {
		if t.pending[i].path == p {
			t.pending[i] = pendingWrite{path: p, mode: mode, data: data}
			return
		}
	}
	t.pending = append(t.pending, pendingWrite{path: p, mode: mode, data: data})
}

// NeedRestart records that dockerd must restart for a change to take effect.
func (t *Target) NeedRestart(reason string) {
	t.restartReasons = appendOnce(t.restartReasons, reason)
}

// NeedReload records that dockerd must reload its configuration.
func (t *Target) NeedReload(reason string) {
	t.reloadReasons = appendOnce(t.reloadReasons, reason)
}

// RestartReasons returns why dockerd must restart, if it must.
func (t *Target) RestartReasons() []string { return t.restartReasons }

// ReloadReasons returns why dockerd must reload, if it must.
func (t *Target) ReloadReasons() []string { return t.reloadReasons }

func (t *Target) clearDaemonNeeds() {
	t.restartReasons = nil
	t.reloadReasons = nil
}

func appendOnce(list []string, s string) []string {
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(list, s)
}

// Exec runs script with /bin/sh on the host, after the queued writes. It
// must only be called when the Target applies.
func (t *Target) Exec(ctx context.Context, script string) (sshx.Result, error) {
	if !t.apply {
		return sshx.Result{}, fmt.Errorf("internal error: command run in check mode")
	}
	if err := t.Flush(ctx); err != nil {
		return sshx.Result{}, err
	}
	return t.runScript(ctx, script)
}

// runScript runs script with "sh -s" so that the user's login shell, which
// may not be a POSIX shell, only has to start sh. The script is one brace
// group, so sh reads all of it before running any of it, and its commands
// read /dev/null: a command that reads standard input cannot swallow the
// rest of the script. With UseBecome the script runs through sudo.
func (t *Target) runScript(ctx context.Context, script string) (sshx.Result, error) {
	wrapped := "{\n" + script + "\n} </dev/null\n"
	if t.become.User == "" {
		return t.conn.Run(ctx, "/bin/sh -s", strings.NewReader(wrapped))
	}
	cmd, stdin, err := t.becomeCommand(wrapped)
	if err != nil {
		return sshx.Result{}, err
	}
	res, err := t.conn.Run(ctx, cmd, strings.NewReader(stdin))
	if err != nil {
		return res, err
	}
	return res, t.checkBecome(res)
}

// Flush makes the queued writes: it creates missing folders and removes
// stale temporary files in one command, uploads each file to a temporary
// name beside its target, and renames them all into place in one more
// command. Each file is either old or new at any moment.
func (t *Target) Flush(ctx context.Context) error {
	if !t.apply || (len(t.pending) == 0 && len(t.stale) == 0) {
		return nil
	}
	writes := t.pending
	t.pending = nil

	var prep strings.Builder
	prep.WriteString("set -e\numask 022\n")
	dirs := map[string]bool{}
	for _, w := range writes {
		dirs[path.Dir(w.path)] = true
	}
	for _, d := range sortedKeys(dirs) {
		fmt.Fprintf(&prep, "mkdir -p %s\n", shellQuote(d))
	}
	for _, s := range t.stale {
		fmt.Fprintf(&prep, "rm -f %s\n", shellQuote(s))
	}
	t.stale = nil
	if res, err := t.runScript(ctx, prep.String()); err != nil {
		return fmt.Errorf("prepare folders: %w", err)
	} else if err := res.Err(); err != nil {
		return fmt.Errorf("prepare folders %s: %w", strings.Join(sortedKeys(dirs), ", "), err)
	}
	if len(writes) == 0 {
		return nil
	}

	suffix, err := randomSuffix()
	if err != nil {
		return err
	}
	if t.become.User != "" {
		return t.flushStaged(ctx, writes, suffix)
	}
	var commit strings.Builder
	commit.WriteString("set -e\n")
	temps := make([]string, 0, len(writes))
	for _, w := range writes {
		tmp := tempPath(w.path, suffix)
		if err := t.conn.Upload(ctx, tmp, w.mode, w.data); err != nil {
			t.removeTemps(ctx, temps, tmp)
			return fmt.Errorf("upload %s: %w", w.path, err)
		}
		temps = append(temps, tmp)
		fmt.Fprintf(&commit, "chmod %04o %s\nmv -f %s %s\n", w.mode.Perm(), shellQuote(tmp), shellQuote(tmp), shellQuote(w.path))
	}
	res, err := t.runScript(ctx, commit.String())
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		t.removeTemps(ctx, temps)
		return fmt.Errorf("rename into place: %w", err)
	}
	return nil
}

// tempPath returns the temporary name beside p that a write of p uses.
func tempPath(p, suffix string) string {
	return path.Join(path.Dir(p), "."+path.Base(p)+tempMarker+suffix)
}

// flushStaged makes the queued writes for a Target with UseBecome. The
// remote scp runs as the SSH user, who cannot write to /etc, so each file
// is uploaded with mode 0600 into a staging folder of mode 0700 that only
// that user can enter. The commit script then runs through sudo: it
// copies each file beside its target under umask 077, sets the final
// mode and renames it into place. The SSH user removes the staging folder
// at the end, also after a failure. Each file is so owned by the become user, never readable by others before its mode
// is set, and either old or new at any moment.
// NOTE: a become user other than root needs read access to the SSH
// user's staging folder, which mode 0700 denies.
func (t *Target) flushStaged(ctx context.Context, writes []pendingWrite, suffix string) error {
	dir, err := t.makeStagingDir(ctx)
	if err != nil {
		return err
	}
	defer t.removeStagingDir(ctx, dir)
	var commit strings.Builder
	commit.WriteString("set -e\numask 077\n")
	var temps []string
	for i, w := range writes {
		staged := fmt.Sprintf("%s/%d", dir, i)
		if err := t.conn.Upload(ctx, staged, 0o600, w.data); err != nil {
			t.removeTemps(ctx, temps)
			return fmt.Errorf("upload %s: %w", w.path, err)
		}
		tmp := tempPath(w.path, suffix)
		temps = append(temps, tmp)
		fmt.Fprintf(&commit, "cp %s %s\nchmod %04o %s\nmv -f %s %s\n",
			shellQuote(staged), shellQuote(tmp), w.mode.Perm(), shellQuote(tmp), shellQuote(tmp), shellQuote(w.path))
	}
	res, err := t.runScript(ctx, commit.String())
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		t.removeTemps(ctx, temps)
		return fmt.Errorf("copy into place as %s: %w", t.become.User, err)
	}
	return nil
}

// removeTemps removes temporary files after a failed write, as far as the
// connection still allows; a later run removes what remains.
func (t *Target) removeTemps(ctx context.Context, temps []string, more ...string) {
	temps = append(temps, more...)
	var b strings.Builder
	for _, tmp := range temps {
		fmt.Fprintf(&b, "rm -rf %s\n", shellQuote(tmp))
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, _ = t.runScript(ctx, b.String())
}

func randomSuffix() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("make temporary file name: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func sortedStrings(s []string) []string {
	sort.Strings(s)
	return s
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

package tasks

import (
	"context"
	"crypto/rand"
	"encoding/base64"
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
	// backedUp lists the files whose previous content was already copied
	// to a backup in this run, so that the backup keeps the state from
	// before the run and not an intermediate one.
	backedUp map[string]bool

	// anchorsChanged is set when a CA was written to the OS trust store's
	// anchor folder and the store has not been rebuilt since.
	anchorsChanged bool

	// daemon is the work that dockerd still owes for this run's changes,
	// with the checks that prove it was done.
	daemon daemonWork

	journal journal
	// stepNotify and stepRegistry describe the step that runs now; see
	// BeginStep.
	stepNotify   []string
	stepRegistry string
}

type pendingWrite struct {
	path string
	mode fs.FileMode
	data []byte
	// backup, when set, receives a copy of the file's previous content,
	// with its mode, just before the file is replaced. When the file does
	// not exist, an older backup is removed.
	backup string
	// check, when set, is a shell command that is run with the uploaded
	// temporary file as its last argument before anything is renamed.
	// When it fails, no file of the batch is replaced. checkName names it
	// in messages.
	check, checkName string
}

// WriteOption adjusts one write of WriteFile.
type WriteOption func(*pendingWrite)

// WithBackup keeps the file's previous content in backup. The copy is
// made on the host in the same command that replaces the file, and only
// once per file and run.
func WithBackup(backup string) WriteOption {
	return func(w *pendingWrite) { w.backup = backup }
}

// WithCheck runs the shell command check with the new content's temporary
// file as last argument before the file is replaced, and makes the write
// fail with the command's output when it exits with a non-zero status.
// name is the check's name in that failure, such as "dockerd --validate".
func WithCheck(name, check string) WriteOption {
	return func(w *pendingWrite) { w.check, w.checkName = check, name }
}

// NewTarget returns a Target for the host name reached through conn. With
// apply false the Target never changes the host: writes and commands that
// change state only update the Target's view of the host.
func NewTarget(name string, vars Vars, conn Conn, apply bool) *Target {
	return &Target{
		Name:     name,
		Vars:     vars,
		conn:     conn,
		apply:    apply,
		files:    map[string]*FileState{},
		facts:    map[string]string{},
		backedUp: map[string]bool{},
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

// BoolVar returns the host variable name as a boolean, or def when it is
// not set. It accepts what Ansible accepts: true, yes, on, y, t and 1,
// and false, no, off, n, f and 0, in any letter case.
func (t *Target) BoolVar(name string, def bool) (bool, error) {
	s, err := t.Var(name, "")
	if err != nil || s == "" {
		return def, err
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on", "y", "t", "1":
		return true, nil
	case "false", "no", "off", "n", "f", "0":
		return false, nil
	}
	return false, fmt.Errorf("host variable %s=%q is not a boolean; use true or false", name, s)
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
func (t *Target) WriteFile(p string, data []byte, mode fs.FileMode, opts ...WriteOption) {
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
	t.noteChange()
	w := pendingWrite{path: p, mode: mode, data: data}
	for _, opt := range opts {
		opt(&w)
	}
	if w.backup != "" {
		if t.backedUp[p] {
			w.backup = ""
		}
		t.backedUp[p] = true
	}
	for i := range t.pending {
		if t.pending[i].path == p {
			if t.pending[i].backup != "" {
				w.backup = t.pending[i].backup
			}
			t.pending[i] = w
			return
		}
	}
	t.pending = append(t.pending, w)
}

// NeedRestart records that dockerd must restart for a change to take effect.
func (t *Target) NeedRestart(reason string) {
	t.daemon.Restart = appendOnce(t.daemon.Restart, reason)
}

// NeedReload records that dockerd must reload its configuration.
func (t *Target) NeedReload(reason string) {
	t.daemon.Reload = appendOnce(t.daemon.Reload, reason)
}

// RestartReasons returns why dockerd must restart, if it must.
func (t *Target) RestartReasons() []string { return t.daemon.Restart }

// ReloadReasons returns why dockerd must reload, if it must.
func (t *Target) ReloadReasons() []string { return t.daemon.Reload }

// clearDaemonNeeds drops the work for dockerd once it is done.
func (t *Target) clearDaemonNeeds() {
	t.daemon = daemonWork{}
}

func appendOnce(list []string, s string) []string {
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(list, s)
}

// Exec runs script, a command that changes the host, with /bin/sh on the
// host, after the queued writes. The journal is updated first, in the
// same remote command when no file write is queued, so that the handlers
// the change notifies are recorded before it happens. Exec must only be
// called when the Target applies.
func (t *Target) Exec(ctx context.Context, script string) (sshx.Result, error) {
	if !t.apply {
		return sshx.Result{}, fmt.Errorf("internal error: command run in check mode")
	}
	t.noteChange()
	if len(t.pending) > 0 || len(t.stale) > 0 {
		if err := t.Flush(ctx); err != nil {
			return sshx.Result{}, err
		}
	}
	update, desired := t.journalUpdate()
	if update == "" {
		return t.runScript(ctx, script)
	}
	guarded := fmt.Sprintf("if ! { %s; }; then\n  echo %s >&2\n  exit %d\nfi\n%s",
		update, shellQuote("write journal "+t.journal.path+" failed"), journalFailedStatus, script)
	res, err := t.runScript(ctx, guarded)
	if err != nil {
		return res, err
	}
	if res.ExitStatus == journalFailedStatus {
		return res, fmt.Errorf("write journal %s: %w", t.journal.path, res.Err())
	}
	t.journal.onDisk = desired
	return res, nil
}

// journalFailedStatus is the exit status of a script whose journal
// update failed before the script's own commands ran.
const journalFailedStatus = 96

// checkFailedStatus is the exit status of Flush's commit command when a
// write's check command rejected the new content.
const checkFailedStatus = 97

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

// Flush makes the queued writes and brings the journal up to date. It
// creates missing folders and removes stale temporary files in one
// command, and uploads each file to a temporary name beside its target.
// One more command then runs the writes' checks, writes the journal,
// copies backups and renames every file into place. Each file is either
// old or new at any moment, and the journal is written before any file is
// replaced. With no file to write, the journal update is the only command.
func (t *Target) Flush(ctx context.Context) error {
	if !t.apply {
		return nil
	}
	if len(t.pending) == 0 && len(t.stale) == 0 {
		return t.flushJournal(ctx)
	}
	writes := t.pending
	t.pending = nil
	if len(writes) > 0 && inlineSize(writes) <= maxInline {
		return t.flushInline(ctx, writes)
	}

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
		return t.flushJournal(ctx)
	}

	suffix, err := randomSuffix()
	if err != nil {
		return err
	}
	if t.become.User != "" {
		return t.flushStaged(ctx, writes, suffix)
	}
	temps := make([]string, 0, len(writes))
	for _, w := range writes {
		tmp := tempPath(w.path, suffix)
		if err := t.conn.Upload(ctx, tmp, w.mode, w.data); err != nil {
			t.removeTemps(ctx, temps, tmp)
			return fmt.Errorf("upload %s: %w", w.path, err)
		}
		temps = append(temps, tmp)
	}
	return t.commit(ctx, writes, suffix, "", nil, temps, "rename into place")
}

// maxInline is the most file content, in bytes, that Flush sends inside
// the commit script instead of uploading each file over scp. Writing
// inline costs one SSH session per host instead of one per file plus
// two, which is most of an apply run's time on a fleet. The bound keeps
// the script, base64 encoded, well under the 128 KiB that Linux allows
// one command-line argument, which sudo's become path passes it as.
// Certificates and daemon.json are a few KiB; larger content, such as a
// big CA bundle, is uploaded with scp.
const maxInline = 32 << 10

func inlineSize(writes []pendingWrite) int {
	n := 0
	for _, w := range writes {
		n += len(w.data)
	}
	return n
}

// flushInline makes the queued writes in one remote command. It creates
// missing folders and removes stale temporary files. It writes each
// file's content from a here-document into a temporary file beside its
// target under umask 077, so no file is ever readable by more users than
// its final mode allows. Then it checks, journals and renames as commit
// does. A failure removes the temporary files it wrote.
func (t *Target) flushInline(ctx context.Context, writes []pendingWrite) error {
	suffix, err := randomSuffix()
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("set -e\numask 022\n")
	dirs := map[string]bool{}
	for _, w := range writes {
		dirs[path.Dir(w.path)] = true
	}
	for _, d := range sortedKeys(dirs) {
		fmt.Fprintf(&b, "mkdir -p %s\n", shellQuote(d))
	}
	for _, s := range t.stale {
		fmt.Fprintf(&b, "rm -f %s\n", shellQuote(s))
	}
	t.stale = nil
	temps := make([]string, 0, len(writes))
	quoted := make([]string, 0, len(writes))
	for _, w := range writes {
		tmp := tempPath(w.path, suffix)
		temps = append(temps, tmp)
		quoted = append(quoted, shellQuote(tmp))
	}
	fmt.Fprintf(&b, "trap 'rm -f %s' EXIT\n", strings.ReplaceAll(strings.Join(quoted, " "), "'", `'\''`))
	// The here-document's end marker cannot occur in base64 text, which
	// has no underscore.
	marker := "REGTRUST_END_" + suffix
	for i, w := range writes {
		fmt.Fprintf(&b, "umask %04o\n", createUmask(w.mode))
		fmt.Fprintf(&b, "base64 -d > %s <<'%s' || { printf 'cannot write %%s\\n' %s >&2; exit 1; }\n", quoted[i], marker, shellQuote(w.path))
		b.WriteString(wrapBase64(w.data))
		b.WriteString(marker + "\n")
	}
	return t.commit(ctx, writes, suffix, b.String(), nil, temps, "write files")
}

// createUmask returns the umask under which a new file gets exactly mode,
// so no chmod is needed after it. A mode with execute bits, which a new
// file never gets from the shell, is created 0600 and set by commit.
func createUmask(mode fs.FileMode) fs.FileMode {
	if mode.Perm()&0o111 != 0 {
		return 0o077
	}
	return 0o777 &^ mode.Perm()
}

// wrapBase64 encodes data in lines of 76 characters.
func wrapBase64(data []byte) string {
	enc := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(enc) > 76 {
		b.WriteString(enc[:76] + "\n")
		enc = enc[76:]
	}
	if enc != "" {
		b.WriteString(enc + "\n")
	}
	return b.String()
}

// tempPath returns the temporary name beside p that a write of p uses.
// The marker in it lets a later run find and remove it.
func tempPath(p, suffix string) string {
	return path.Join(path.Dir(p), "."+path.Base(p)+tempMarker+suffix)
}

// flushStaged makes the queued writes for a Target with UseBecome. The
// remote scp runs as the SSH user, who cannot write to /etc, so each file
// is uploaded with mode 0600 into a staging folder of mode 0700 that only
// that user can enter. The commit script then runs through sudo: it
// copies each file beside its target under umask 077, and then runs the
// checks, writes the journal, copies backups and renames as Flush does.
// The SSH user removes the staging folder at the end, also after a
// failure. Each file is so owned by the become user, never readable by
// others before its mode is set, and either old or new at any moment.
// NOTE: a become user other than root needs read access to the SSH
// user's staging folder, which mode 0700 denies.
func (t *Target) flushStaged(ctx context.Context, writes []pendingWrite, suffix string) error {
	dir, err := t.makeStagingDir(ctx)
	if err != nil {
		return err
	}
	defer t.removeStagingDir(ctx, dir)
	var staged, temps []string
	for i, w := range writes {
		file := fmt.Sprintf("%s/%d", dir, i)
		if err := t.conn.Upload(ctx, file, 0o600, w.data); err != nil {
			t.removeTemps(ctx, temps)
			return fmt.Errorf("upload %s: %w", w.path, err)
		}
		staged = append(staged, file)
		temps = append(temps, tempPath(w.path, suffix))
	}
	return t.commit(ctx, writes, suffix, "", staged, temps, "copy into place as "+t.become.User)
}

// commit runs the command that puts uploaded writes into place and
// removes the temporary files when it fails. staged, when set, lists the
// staging file of each write.
// The script starts with prefix, which may write the temporary files
// itself.
func (t *Target) commit(ctx context.Context, writes []pendingWrite, suffix, prefix string, staged, temps []string, what string) error {
	update, desired := t.journalUpdate()
	// Files the prefix wrote already have their mode, unless the mode has
	// execute bits.
	script := prefix + commitScript(writes, suffix, update, staged, prefix != "")
	if prefix != "" {
		// The prefix's trap removes the temporary files on failure;
		// after the renames there is nothing left to remove.
		script += "trap - EXIT\n"
	}
	res, err := t.runScript(ctx, script)
	if err == nil && res.ExitStatus == checkFailedStatus {
		t.removeTemps(ctx, temps)
		return checkError(writes, res)
	}
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		t.removeTemps(ctx, temps)
		return fmt.Errorf("%s: %w", what, err)
	}
	t.journal.onDisk = desired
	return nil
}

// commitScript returns the command that puts uploaded writes into place:
// first the copies from the staging folder, when staged is set, then
// every write's check, then the journal update, then per file the backup
// and the rename.
func commitScript(writes []pendingWrite, suffix, journalUpdate string, staged []string, modesSet bool) string {
	var b strings.Builder
	b.WriteString("set -e\n")
	if staged != nil {
		b.WriteString("umask 077\n")
		for i, w := range writes {
			fmt.Fprintf(&b, "cp %s %s\n", shellQuote(staged[i]), shellQuote(tempPath(w.path, suffix)))
		}
	}
	for _, w := range writes {
		if w.check == "" {
			continue
		}
		tmp := shellQuote(tempPath(w.path, suffix))
		fmt.Fprintf(&b, "if ! out=$(%s %s 2>&1); then\n  printf 'check failed: %%s\\n%%s\\n' %s \"$out\"\n  exit %d\nfi\n",
			w.check, tmp, shellQuote(w.path), checkFailedStatus)
	}
	if journalUpdate != "" {
		b.WriteString(journalUpdate + "\n")
	}
	for _, w := range writes {
		tmp, dst := shellQuote(tempPath(w.path, suffix)), shellQuote(w.path)
		if w.backup != "" {
			backup, backupTmp := shellQuote(w.backup), shellQuote(tempPath(w.backup, suffix))
			// A hard link keeps the old file as the backup in one
			// step; the rename below gives the target a new inode. A
			// file system without hard links gets a copy.
			fmt.Fprintf(&b, "if [ -e %s ]; then ln -f %s %s 2>/dev/null || { cp -p %s %s && mv -f %s %s; }; else rm -f %s; fi\n",
				dst, dst, backup, dst, backupTmp, backupTmp, backup, backup)
		}
		if !modesSet || createUmask(w.mode) == 0o077 && w.mode.Perm() != 0o600 {
			fmt.Fprintf(&b, "chmod %04o %s\n", w.mode.Perm(), tmp)
		}
		fmt.Fprintf(&b, "mv -f %s %s\n", tmp, dst)
	}
	return b.String()
}

// checkError describes a write that its check command rejected, with the
// command's output.
func checkError(writes []pendingWrite, res sshx.Result) error {
	out := strings.TrimSpace(string(res.Stdout))
	first, rest, _ := strings.Cut(out, "\n")
	failed := strings.TrimPrefix(first, "check failed: ")
	check := ""
	for _, w := range writes {
		if w.path == failed {
			check = w.checkName
		}
	}
	return fmt.Errorf("check new %s with %s: %s; no file was replaced", failed, check, strings.TrimSpace(rest))
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

package tasks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
)

// The journal is a small JSON file on the host that records the handlers
// that a change has notified and that have not run yet, with what dockerd
// must still do. A run writes it before the change that notifies a
// handler, in the same command as the change's file writes, and removes a
// handler from it once the handler succeeds. A run that fails or is cut
// off between a change and its handler so leaves the handler recorded,
// and the next run, which reads the journal in its gather command, runs
// the handler even though nothing changes any more.

// defaultStateDir holds regtrust's state on a host. The host variable
// regtrust_state_dir moves it.
const defaultStateDir = "/var/lib/regtrust"

// journalFile is the journal's file name in the state folder.
const journalFile = "pending-handlers.json"

// journalVersion is the format of the journal. A journal of another
// version is rejected rather than misread.
const journalVersion = 1

// journal is the Target's view of the journal file.
type journal struct {
	path string
	// handlers are the notified handlers that have not succeeded yet, in
	// the order they were notified.
	handlers []string
	// loaded are the handlers that the journal listed when the run
	// gathered it.
	loaded []string
	// onDisk is the content the file has, nil when it does not exist.
	onDisk []byte
}

// journalRecord is the journal file's content.
type journalRecord struct {
	Version  int      `json:"version"`
	Handlers []string `json:"handlers"`
	// AnchorsChanged is set when a CA was added to the OS trust store's
	// anchors and the store was not rebuilt yet.
	AnchorsChanged bool `json:"anchors_changed,omitempty"`
	daemonWork
}

// daemonWork is the work that dockerd still owes for changes made on the
// host, with the checks that prove it was done.
type daemonWork struct {
	Restart []string `json:"restart_reasons,omitempty"`
	Reload  []string `json:"reload_reasons,omitempty"`
	// DaemonJSON is the daemon.json change that a failed restart or
	// reload rolls back.
	DaemonJSON *daemonJSONChange `json:"daemon_json,omitempty"`
	// Registries are the addresses of registries whose trust changed; a
	// TLS connection to each must verify after dockerd acted.
	Registries []string `json:"registries,omitempty"`
	// InsecureAdded and InsecureRemoved are insecure-registries entries,
	// as dockerd lists them, that dockerd must show or stop showing.
	InsecureAdded   []string `json:"insecure_added,omitempty"`
	InsecureRemoved []string `json:"insecure_removed,omitempty"`
}

// clone returns a copy of w that shares nothing with it.
func (w daemonWork) clone() daemonWork {
	c := daemonWork{
		Restart:         slices.Clone(w.Restart),
		Reload:          slices.Clone(w.Reload),
		Registries:      slices.Clone(w.Registries),
		InsecureAdded:   slices.Clone(w.InsecureAdded),
		InsecureRemoved: slices.Clone(w.InsecureRemoved),
	}
	if w.DaemonJSON != nil {
		j := *w.DaemonJSON
		c.DaemonJSON = &j
	}
	return c
}

// daemonJSONChange records a replaced daemon.json.
type daemonJSONChange struct {
	Path string `json:"path"`
	// Backup holds the previous content; it is meaningful only when
	// Existed is true, else the file did not exist before.
	Backup  string `json:"backup"`
	Existed bool   `json:"existed"`
}

// journalPath returns the journal's path on the host from the host
// variable regtrust_state_dir.
func journalPath(t *Target) (string, error) {
	dir, err := t.Var("regtrust_state_dir", defaultStateDir)
	if err != nil {
		return "", err
	}
	if err := validateRemoteDir("regtrust_state_dir", dir); err != nil {
		return "", err
	}
	return path.Join(dir, journalFile), nil
}

// JournalProbes returns the probe that reads the journal. The runner adds
// it to the host's gather command; LoadJournal then parses it.
func (t *Target) JournalProbes() ([]Probe, error) {
	p, err := journalPath(t)
	if err != nil {
		return nil, err
	}
	t.journal.path = p
	return []Probe{{Path: p, Content: true}}, nil
}

// LoadJournal reads the gathered journal: the handlers it lists become
// PendingHandlers, and the dockerd work it records becomes the Target's.
func (t *Target) LoadJournal() error {
	p := t.journal.path
	if p == "" {
		return fmt.Errorf("internal error: journal read before it was probed")
	}
	st, err := t.File(p)
	if err != nil {
		return err
	}
	if !st.Exists {
		return nil
	}
	if st.IsDir || !st.ContentRead {
		return fmt.Errorf("read journal %s: not a small regular file; move it away and run again", p)
	}
	var rec journalRecord
	if err := json.Unmarshal(st.Content, &rec); err != nil || rec.Version != journalVersion {
		if err == nil {
			err = fmt.Errorf("version %d, want %d", rec.Version, journalVersion)
		}
		return fmt.Errorf("read journal %s: %v; it lists handlers that an earlier run did not finish: run them by hand (such as a dockerd restart), then delete the file", p, err)
	}
	t.journal.onDisk = slices.Clone(st.Content)
	t.journal.handlers = slices.Clone(rec.Handlers)
	t.journal.loaded = slices.Clone(rec.Handlers)
	t.daemon = rec.daemonWork
	t.anchorsChanged = rec.AnchorsChanged
	return nil
}

// PendingHandlers returns the handlers that an earlier run notified and
// did not finish, in the order they were notified.
func (t *Target) PendingHandlers() []string {
	return slices.Clone(t.journal.loaded)
}

// Idler is a task that, as a handler, can tell from the gathered state
// that running it would change nothing on the host.
type Idler interface {
	IdleOn(t *Target) bool
}

// BeginStep sets what the next step's changes imply: the handlers it
// notifies and the address of the registry it works on, or "". A change
// the step makes records both before it happens.
func (t *Target) BeginStep(notify []string, registry string) {
	t.stepNotify = notify
	t.stepRegistry = registry
}

// HandlerDone removes a handler that succeeded from the journal.
func (t *Target) HandlerDone(name string) {
	t.journal.handlers = slices.DeleteFunc(t.journal.handlers, func(h string) bool { return h == name })
}

// noteChange records the current step's handlers and registry, because
// the step is about to change the host.
func (t *Target) noteChange() {
	for _, h := range t.stepNotify {
		t.journal.handlers = appendOnce(t.journal.handlers, h)
	}
	if t.stepRegistry != "" {
		t.daemon.Registries = appendOnce(t.daemon.Registries, t.stepRegistry)
	}
}

// journalContent returns the journal file's content for the Target's
// state, or nil when no handler is pending and the file must not exist.
func (t *Target) journalContent() []byte {
	if len(t.journal.handlers) == 0 {
		return nil
	}
	rec := journalRecord{Version: journalVersion, Handlers: t.journal.handlers, AnchorsChanged: t.anchorsChanged, daemonWork: t.daemon}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		// The record holds only strings and booleans.
		panic(fmt.Sprintf("encode journal: %v", err))
	}
	return append(data, '\n')
}

// journalUpdate returns the shell commands that bring the journal file to
// the Target's state, and the content they leave (nil: no file). It
// returns "" when the file is up to date or the journal is not in use.
// The content is written inline, so an update needs no upload.
func (t *Target) journalUpdate() (string, []byte) {
	p := t.journal.path
	if p == "" {
		return "", nil
	}
	want := t.journalContent()
	if bytes.Equal(want, t.journal.onDisk) && (want == nil) == (t.journal.onDisk == nil) {
		return "", t.journal.onDisk
	}
	if want == nil {
		return "rm -f " + shellQuote(p), nil
	}
	tmp := shellQuote(tempPath(p, "journal"))
	return fmt.Sprintf("mkdir -p %s && (umask 022 && printf '%%s' %s > %s) && mv -f %s %s",
		shellQuote(path.Dir(p)), shellQuote(string(want)), tmp, tmp, shellQuote(p)), want
}

// flushJournal brings the journal file up to date in one command.
func (t *Target) flushJournal(ctx context.Context) error {
	update, desired := t.journalUpdate()
	if update == "" {
		return nil
	}
	res, err := t.runScript(ctx, update)
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		return fmt.Errorf("write journal %s: %w", t.journal.path, err)
	}
	t.journal.onDisk = desired
	return nil
}

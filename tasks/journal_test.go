package tasks

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// checkContains reports each of wants that text lacks.
func checkContains(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("%s = %q; want it to contain %q", what, text, want)
		}
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestFlushKeepsBackup(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "daemon.json")
	backup := file + ".bak"
	if err := os.WriteFile(file, []byte("old\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tg := NewTarget("node1", nil, &localConn{}, true)
	tg.WriteFile(file, []byte("new\n"), 0o640, WithBackup(backup))
	if err := tg.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, file); got != "new\n" {
		t.Errorf("file = %q; want %q", got, "new\n")
	}
	if got := readFile(t, backup); got != "old\n" {
		t.Errorf("backup = %q; want the previous content %q", got, "old\n")
	}
	if info, _ := os.Stat(backup); info.Mode().Perm() != 0o640 {
		t.Errorf("backup mode = %04o; want the file's 0640", info.Mode().Perm())
	}

	// A second write in the same run keeps the backup from before the run.
	tg.WriteFile(file, []byte("newer\n"), 0o640, WithBackup(backup))
	if err := tg.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, backup); got != "old\n" {
		t.Errorf("backup after a second write = %q; want %q", got, "old\n")
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*"+tempMarker+"*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestFlushBackupOfMissingFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "daemon.json")
	backup := file + ".bak"
	if err := os.WriteFile(backup, []byte("stale backup\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tg := NewTarget("node1", nil, &localConn{}, true)
	tg.WriteFile(file, []byte("{}\n"), 0o644, WithBackup(backup))
	if err := tg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(backup); !os.IsNotExist(err) {
		t.Errorf("backup of a file that did not exist still there (stat error %v); want it removed", err)
	}
}

func TestFlushCheckRejects(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "daemon.json")
	other := filepath.Join(dir, "other.txt")
	if err := os.WriteFile(file, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tg := NewTarget("node1", nil, &localConn{}, true)
	tg.WriteFile(other, []byte("other\n"), 0o644)
	tg.WriteFile(file, []byte("new\n"), 0o644, WithCheck("a test check", "sh -c 'echo bad key >&2; exit 1' check"))
	err := tg.Flush(context.Background())
	if err == nil {
		t.Fatal("Flush succeeded; want the check's failure")
	}
	checkContains(t, "error", err.Error(), "check new "+file+" with a test check", "bad key", "no file was replaced")
	if got := readFile(t, file); got != "old\n" {
		t.Errorf("file = %q after a rejected write; want %q", got, "old\n")
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("another file of the batch was written although the check failed (stat error %v)", err)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*"+tempMarker+"*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestJournalWrittenWithChange(t *testing.T) {
	dir := t.TempDir()
	vars := mapVars{"regtrust_state_dir": filepath.Join(dir, "state")}
	journalFile := filepath.Join(dir, "state", journalFile)
	file := filepath.Join(dir, "daemon.json")
	ctx := context.Background()

	conn := &localConn{}
	tg := NewTarget("node1", vars, conn, true)
	probes, err := tg.JournalProbes()
	if err != nil {
		t.Fatal(err)
	}
	if err := tg.Gather(ctx, probes); err != nil {
		t.Fatal(err)
	}
	if err := tg.LoadJournal(); err != nil {
		t.Fatal(err)
	}
	tg.BeginStep([]string{"restart_docker_if_changed"}, "registry.example:5000")
	tg.WriteFile(file, []byte("{}\n"), 0o644)
	tg.NeedReload("insecure-registries changed in " + file)
	if err := tg.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	commit := conn.scripts[len(conn.scripts)-1]
	journalAt, renameAt := strings.Index(commit, journalFile), strings.Index(commit, " "+shellQuote(file)+"\n")
	if renameAt < 0 {
		t.Fatalf("the commit command does not rename into %s:\n%s", file, commit)
	}
	if journalAt < 0 {
		t.Fatalf("the commit command does not write the journal:\n%s", commit)
	}
	if renameAt < journalAt {
		t.Errorf("the commit command renames the file before it writes the journal:\n%s", commit)
	}
	text := readFile(t, journalFile)
	checkContains(t, "journal", text, `"restart_docker_if_changed"`, `"insecure-registries changed in `+file+`"`, `"registry.example:5000"`)

	// The next run reads the journal.
	next := NewTarget("node1", vars, &localConn{}, true)
	probes, _ = next.JournalProbes()
	if err := next.Gather(ctx, probes); err != nil {
		t.Fatal(err)
	}
	if err := next.LoadJournal(); err != nil {
		t.Fatal(err)
	}
	if got := next.PendingHandlers(); !slices.Equal(got, []string{"restart_docker_if_changed"}) {
		t.Errorf("PendingHandlers = %q; want [restart_docker_if_changed]", got)
	}
	if got := next.ReloadReasons(); len(got) != 1 {
		t.Errorf("ReloadReasons = %q; want the one from the journal", got)
	}

	// Once the handler succeeds, the journal goes.
	next.HandlerDone("restart_docker_if_changed")
	if err := next.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(journalFile); !os.IsNotExist(err) {
		t.Errorf("journal still exists after its only handler succeeded (stat error %v)", err)
	}
}

func TestJournalInSameCommandAsExec(t *testing.T) {
	dir := t.TempDir()
	vars := mapVars{"regtrust_state_dir": filepath.Join(dir, "state")}
	marker := filepath.Join(dir, "ran")
	ctx := context.Background()
	conn := &localConn{}
	tg := NewTarget("node1", vars, conn, true)
	probes, _ := tg.JournalProbes()
	if err := tg.Gather(ctx, probes); err != nil {
		t.Fatal(err)
	}
	before := len(conn.scripts)
	tg.BeginStep([]string{"restart_docker_if_changed"}, "")
	// The command fails when the journal is not there yet when it runs.
	res, err := tg.Exec(ctx, "test -s "+shellQuote(filepath.Join(dir, "state", journalFile))+" && touch "+shellQuote(marker))
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Err(); err != nil {
		t.Fatalf("command: %v; the journal was not written before it ran", err)
	}
	if n := len(conn.scripts) - before; n != 1 {
		t.Errorf("Exec ran %d remote commands; want 1, the journal update included", n)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("command did not run: %v", err)
	}
}

func TestLoadJournalInvalid(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	os.MkdirAll(state, 0o755)
	journal := filepath.Join(state, journalFile)
	tests := []struct {
		name, content, want string
	}{
		{"not-json", "{handlers", "run them by hand"},
		{"other-version", `{"version": 9, "handlers": ["x"]}`, "version 9, want 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(journal, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			tg := NewTarget("node1", mapVars{"regtrust_state_dir": state}, &localConn{}, true)
			probes, _ := tg.JournalProbes()
			if err := tg.Gather(context.Background(), probes); err != nil {
				t.Fatal(err)
			}
			err := tg.LoadJournal()
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), journal) {
				t.Errorf("LoadJournal error = %v; want one naming %s and containing %q", err, journal, tt.want)
			}
		})
	}
}

func TestForkCopiesJournal(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	os.MkdirAll(state, 0o755)
	content := `{"version": 1, "handlers": ["restart_docker_if_changed"], "anchors_changed": true, "restart_reasons": ["the OS trust store changed"]}`
	if err := os.WriteFile(filepath.Join(state, journalFile), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	tg := NewTarget("node1", mapVars{"regtrust_state_dir": state}, &localConn{}, true)
	probes, _ := tg.JournalProbes()
	if err := tg.Gather(context.Background(), probes); err != nil {
		t.Fatal(err)
	}
	if err := tg.LoadJournal(); err != nil {
		t.Fatal(err)
	}
	f := tg.Fork(false)
	if got := f.PendingHandlers(); !slices.Equal(got, []string{"restart_docker_if_changed"}) {
		t.Errorf("fork PendingHandlers = %q; want the journal's", got)
	}
	if got := f.RestartReasons(); !slices.Equal(got, []string{"the OS trust store changed"}) {
		t.Errorf("fork RestartReasons = %q; want the journal's", got)
	}
	if !f.anchorsChanged {
		t.Errorf("fork anchorsChanged = false; want true from the journal")
	}
	f.NeedRestart("another reason")
	if got := tg.RestartReasons(); len(got) != 1 {
		t.Errorf("a change on the fork reached the original: RestartReasons = %q", got)
	}
}

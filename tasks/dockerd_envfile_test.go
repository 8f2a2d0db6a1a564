package tasks

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestDockerdFactReadsOptionFiles(t *testing.T) {
	dir := t.TempDir()
	withOpts := filepath.Join(dir, "docker")
	content := "# Options for dockerd\nDOCKER_OPTS=\"--insecure-registry legacy.example:5000 --debug\"\n\n  indented=value\\\nlast line without newline"
	if err := os.WriteFile(withOpts, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o644)
	missing := filepath.Join(dir, "missing")

	tg := NewTarget("node1", nil, &localConn{}, false)
	script := dockerdScriptFiles(filepath.Join(dir, "docker.pid"), "none", withOpts+" "+empty+" "+missing)
	if err := tg.Gather(context.Background(), []Probe{{Key: dockerdFact, Script: script}}); err != nil {
		t.Fatal(err)
	}
	st, err := readDockerd(tg)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := st.envFiles[withOpts], content+"\n"; got != want {
		t.Errorf("option file = %q; want %q", got, want)
	}
	if got, ok := st.envFiles[empty]; !ok || got != "" {
		t.Errorf("empty option file = %q, present %v; want present and empty", got, ok)
	}
	if _, ok := st.envFiles[missing]; ok {
		t.Errorf("a missing option file was reported")
	}
	if st.pid != 0 || st.manager != "none" {
		t.Errorf("pid %d, manager %q; want 0 and none", st.pid, st.manager)
	}
}

package tasks

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// gatherHash gathers the probes of task on a fresh Target and returns the
// state hash.
func gatherHash(t *testing.T, task Task, vars mapVars, extra ...Probe) string {
	t.Helper()
	tg := NewTarget("node1", vars, &localConn{}, false)
	if err := tg.Gather(context.Background(), append(task.Probes(tg), extra...)); err != nil {
		t.Fatalf("Gather: %v", err)
	}
	return tg.StateSHA256()
}

func TestStateSHA256(t *testing.T) {
	reg := testRegistry(t)
	task := buildTask(t, PlaceDockerCertName, "{registry: lab}", reg)
	tests := []struct {
		name    string
		change  func(t *testing.T, folder, marker string)
		changed bool
	}{
		{"nothing", func(*testing.T, string, string) {}, false},
		{"stale-temporary-file", func(t *testing.T, folder, _ string) {
			write(t, filepath.Join(folder, ".ca.crt"+tempMarker+"0123"), "half", 0o644)
		}, false},
		{"content", func(t *testing.T, folder, _ string) {
			write(t, filepath.Join(folder, "ca.crt"), "other CA", 0o644)
		}, true},
		{"mode", func(t *testing.T, folder, _ string) {
			if err := os.Chmod(filepath.Join(folder, "ca.crt"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"new-file", func(t *testing.T, folder, _ string) {
			write(t, filepath.Join(folder, "client.key"), "key", 0o600)
		}, true},
		{"removed-file", func(t *testing.T, folder, _ string) {
			if err := os.Remove(filepath.Join(folder, "ca.crt")); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"fact-output", func(t *testing.T, _, marker string) {
			write(t, marker, "dockerd restarted", 0o644)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			folder := filepath.Join(dir, reg.Address)
			if err := os.MkdirAll(folder, 0o755); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(folder, "ca.crt"), "old CA", 0o644)
			marker := filepath.Join(dir, "marker")
			fact := Probe{Key: "marker", Script: "cat " + shellQuote(marker)}
			vars := mapVars{"docker_certs_dir": dir}

			before := gatherHash(t, task, vars, fact)
			if again := gatherHash(t, task, vars, fact); again != before {
				t.Fatalf("two gathers of the same state hash to %s and %s", before, again)
			}
			tt.change(t, folder, marker)
			after := gatherHash(t, task, vars, fact)
			if (after != before) != tt.changed {
				t.Errorf("hash changed = %v; want %v", after != before, tt.changed)
			}
		})
	}
}

func write(t *testing.T, file, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(file, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, mode); err != nil {
		t.Fatal(err)
	}
}

// TestForkChecksWithoutTouchingParent checks a task on a fork and then
// applies it on the parent. The check leaves the parent's view alone,
// so the parent still finds, and writes, the change.
func TestForkChecksWithoutTouchingParent(t *testing.T) {
	dir := t.TempDir()
	reg := testRegistry(t)
	task := buildTask(t, PlaceDockerCertName, "{registry: lab}", reg)
	ctx := context.Background()
	parent := NewTarget("node1", mapVars{"docker_certs_dir": dir}, &localConn{}, true)
	if err := parent.Gather(ctx, task.Probes(parent)); err != nil {
		t.Fatal(err)
	}
	hash := parent.StateSHA256()

	fork := parent.Fork(false)
	if fork.Applying() {
		t.Errorf("Fork(false).Applying() = true; want false")
	}
	checked, err := task.CheckApply(ctx, fork, false)
	if err != nil {
		t.Fatal(err)
	}
	if !checked.Changed {
		t.Fatalf("check on the fork: Changed = false; want true")
	}
	if got := parent.StateSHA256(); got != hash {
		t.Errorf("parent state hash changed from %s to %s after a check on the fork", hash, got)
	}

	applied, err := task.CheckApply(ctx, parent, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := parent.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if applied.Message != checked.Message || applied.Diff != checked.Diff {
		t.Errorf("apply on the parent = %q, %q; want what the fork checked: %q, %q", applied.Message, applied.Diff, checked.Message, checked.Diff)
	}
	if _, err := os.Stat(filepath.Join(dir, reg.Address, "ca.crt")); err != nil {
		t.Errorf("apply on the parent did not write ca.crt: %v", err)
	}
}

package runlock

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAcquireTwice(t *testing.T) {
	file := filepath.Join(t.TempDir(), "regtrust.lock")
	first, err := Acquire(file)
	if err != nil {
		t.Fatalf("first Acquire: %v", err)
	}
	_, err = Acquire(file)
	var locked *LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("second Acquire error = %v; want a *LockedError", err)
	}
	want := fmt.Sprintf("pid %d, started ", os.Getpid())
	if !strings.HasPrefix(locked.Holder, want) {
		t.Errorf("Holder = %q; want it to start with %q", locked.Holder, want)
	}
	if !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), "before contacting any host") {
		t.Errorf("error %q does not name the file and what the run did", err)
	}

	if err := first.Unlock(); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	again, err := Acquire(file)
	if err != nil {
		t.Fatalf("Acquire after Unlock: %v", err)
	}
	again.Unlock()
}

// TestLockHeldByOtherProcess takes the lock with flock(1) in a child
// process, then checks that Acquire fails while the child holds it and
// succeeds once the child has exited without unlocking.
func TestLockHeldByOtherProcess(t *testing.T) {
	flock, err := exec.LookPath("flock")
	if err != nil {
		t.Skip("flock(1) from util-linux is not installed")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "regtrust.lock")
	if err := os.WriteFile(file, []byte("pid 42, started 2026-01-02T03:04:05Z\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ready := filepath.Join(dir, "ready")
	release := filepath.Join(dir, "release")
	// The child locks the file, creates the ready file and waits until
	// the test creates the release file.
	cmd := exec.Command(flock, "--exclusive", "--nonblock", file, "sh", "-c",
		fmt.Sprintf("touch %s; while [ ! -e %s ]; do sleep 0.01; done", ready, release))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.WriteFile(release, nil, 0o644)
		cmd.Wait()
	})
	waitForFile(t, ready)

	_, err = Acquire(file)
	var locked *LockedError
	if !errors.As(err, &locked) {
		t.Fatalf("Acquire while flock(1) holds the lock: error = %v; want a *LockedError", err)
	}
	if locked.Holder != "pid 42, started 2026-01-02T03:04:05Z" {
		t.Errorf("Holder = %q; want the line in the file", locked.Holder)
	}

	if err := os.WriteFile(release, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("flock child: %v", err)
	}
	l, err := Acquire(file)
	if err != nil {
		t.Fatalf("Acquire after the holder exited: %v", err)
	}
	l.Unlock()
}

// waitForFile waits until the child has created file. The deadline
// only keeps a broken child from hanging the test.
func waitForFile(t *testing.T, file string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(file); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within 30s", file)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAcquireErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, file, want string
	}{
		{"missing-folder", filepath.Join(dir, "missing", "x.lock"), "open lock file"},
		{"folder", dir, "open lock file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Acquire(tt.file)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Acquire(%s) error = %v; want one containing %q", tt.file, err, tt.want)
			}
			var locked *LockedError
			if errors.As(err, &locked) {
				t.Errorf("error is a *LockedError; want another error")
			}
		})
	}
}

func TestReadHolderHidesControlCharacters(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("pid 1\x1b[2J\n")
	if got := readHolder(f); got != "" {
		t.Errorf("readHolder = %q; want \"\" for a line with an escape sequence", got)
	}
}

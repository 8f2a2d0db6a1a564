package sshx

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/regtrust/regtrust/internal/sshtest"
)

// TestUploadCreatesFileWithFinalMode watches the target folder with
// inotify: the file must be created and never have its attributes
// changed afterwards, so its mode at creation is the final mode and it
// was never readable by more users than requested.
func TestUploadCreatesFileWithFinalMode(t *testing.T) {
	setUmask(t, 0o022)
	srv := sshtest.NewServer(t)
	c := dial(t, configFor(srv))

	tests := []struct {
		name string
		mode fs.FileMode
	}{
		{name: "0600", mode: 0o600},
		{name: "0644", mode: 0o644},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "client.key")
			events := watchFolder(t, dir)

			if err := c.Upload(context.Background(), path, tt.mode, []byte("secret")); err != nil {
				t.Fatalf("Upload error = %v; want nil", err)
			}

			// The remote scp acknowledges the file only after closing it,
			// so all its events are queued once Upload returns.
			got := events()
			if got["client.key"]&unix.IN_CREATE == 0 {
				t.Errorf("inotify saw no IN_CREATE for the file; want the upload to create it")
			}
			if got["client.key"]&unix.IN_ATTRIB != 0 {
				t.Errorf("inotify saw IN_ATTRIB for the file; want its mode set at creation, not changed later")
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm() != tt.mode {
				t.Errorf("mode = %v; want %v", info.Mode().Perm(), tt.mode)
			}
		})
	}
}

// watchFolder starts watching dir for created files and attribute
// changes. The returned function drains the queued events and returns
// the event mask seen for each file name.
func watchFolder(t *testing.T, dir string) func() map[string]uint32 {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatalf("start inotify: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CREATE|unix.IN_ATTRIB); err != nil {
		t.Fatalf("watch %s with inotify: %v", dir, err)
	}
	return func() map[string]uint32 {
		seen := make(map[string]uint32)
		buf := make([]byte, 64*1024)
		for {
			n, err := unix.Read(fd, buf)
			if err == unix.EAGAIN {
				return seen
			}
			if err != nil {
				t.Fatalf("read inotify events: %v", err)
			}
			for offset := 0; offset+unix.SizeofInotifyEvent <= n; {
				event := (*unix.InotifyEvent)(unsafe.Pointer(&buf[offset]))
				nameStart := offset + unix.SizeofInotifyEvent
				name := string(bytes.TrimRight(buf[nameStart:nameStart+int(event.Len)], "\x00"))
				seen[name] |= event.Mask
				offset = nameStart + int(event.Len)
			}
		}
	}
}

package sshx

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/regtrust/regtrust/internal/sshtest"
)

// setUmask sets the process umask, which the test server's scp inherits,
// for the rest of the test.
func setUmask(t *testing.T, mask int) {
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

func TestUpload(t *testing.T) {
	setUmask(t, 0o022)
	srv := sshtest.NewServer(t)
	c := dial(t, configFor(srv))
	dir := t.TempDir()

	tests := []struct {
		name string
		file string
		mode fs.FileMode
		data []byte
	}{
		{name: "private key 0600", file: "client.key", mode: 0o600, data: []byte("-----BEGIN PRIVATE KEY-----\nnot a real key\n")},
		{name: "certificate 0644", file: "ca.crt", mode: 0o644, data: []byte("-----BEGIN CERTIFICATE-----\n")},
		{name: "empty file", file: "empty", mode: 0o644, data: nil},
		{name: "binary data", file: "blob", mode: 0o600, data: bytes.Repeat([]byte{0, 1, 2, 255, '\n'}, 100000)},
		{name: "name with spaces", file: "a b.crt", mode: 0o644, data: []byte("x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			if err := c.Upload(context.Background(), path, tt.mode, tt.data); err != nil {
				t.Fatalf("Upload(%s, %v) error = %v; want nil", path, tt.mode, err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read uploaded file: %v", err)
			}
			if !bytes.Equal(got, tt.data) {
				t.Errorf("uploaded content = %d bytes; want the %d bytes sent", len(got), len(tt.data))
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatalf("stat uploaded file: %v", err)
			}
			if info.Mode().Perm() != tt.mode {
				t.Errorf("uploaded mode = %v; want %v", info.Mode().Perm(), tt.mode)
			}
		})
	}
	if got := srv.Conns(); got != 1 {
		t.Errorf("server connections after %d uploads = %d; want 1", len(tests), got)
	}
}

func TestUploadRejectsUnsafePath(t *testing.T) {
	srv := sshtest.NewServer(t)
	c := dial(t, configFor(srv))
	dir := t.TempDir()

	tests := []struct {
		name string
		path string
		mode fs.FileMode
		want string
	}{
		{name: "empty", path: "", mode: 0o600, want: "missing remote path"},
		{name: "folder", path: dir + "/", mode: 0o600, want: "names a folder"},
		{name: "variable", path: dir + "/$HOME", mode: 0o600, want: "remote shell"},
		{name: "command substitution", path: dir + "/`touch pwned`", mode: 0o600, want: "remote shell"},
		{name: "double quote", path: dir + `/a"; touch pwned; "`, mode: 0o600, want: "remote shell"},
		{name: "newline", path: dir + "/a\nb", mode: 0o600, want: "control"},
		{name: "setuid bit", path: dir + "/suid", mode: fs.ModeSetuid | 0o755, want: "permission bits only"},
		{name: "folder mode", path: dir + "/d", mode: fs.ModeDir | 0o755, want: "permission bits only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := c.Upload(context.Background(), tt.path, tt.mode, []byte("x"))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Upload(%q, %v) error = %v; want one containing %q", tt.path, tt.mode, err, tt.want)
			}
		})
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("folder has %d entries after rejected uploads; want 0", len(entries))
	}
	if _, err := os.Stat(filepath.Join(srv.Home, "pwned")); err == nil {
		t.Errorf("a rejected path ran a command on the server")
	}
	if got := srv.Sessions(); got != 0 {
		t.Errorf("server sessions = %d; want 0, because invalid uploads must not reach the server", got)
	}
}

func TestUploadMissingFolder(t *testing.T) {
	srv := sshtest.NewServer(t)
	c := dial(t, configFor(srv))

	path := filepath.Join(t.TempDir(), "missing", "ca.crt")
	err := c.Upload(context.Background(), path, 0o644, []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "No such file or directory") {
		t.Errorf("Upload into a missing folder error = %v; want one containing %q", err, "No such file or directory")
	}
	if _, statErr := os.Stat(filepath.Dir(path)); statErr == nil {
		t.Errorf("Upload created the folder %s; want it left missing", filepath.Dir(path))
	}
}

func TestUploadCancelEndsHangingServer(t *testing.T) {
	srv := sshtest.NewServer(t, sshtest.HangAfterHandshake())
	c := dial(t, configFor(srv))

	// The server never replies to the session open, so only the context
	// can end Upload. The short timeout just keeps the test fast.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.Upload(ctx, filepath.Join(t.TempDir(), "f"), 0o600, []byte("x"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Upload on a hanging server error = %v; want context.DeadlineExceeded", err)
	}
}

package sshx

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/regtrust/regtrust/internal/sshtest"
)

// BenchmarkDialRun measures one connection plus one command, the cost of
// a host that needs a single check.
func BenchmarkDialRun(b *testing.B) {
	srv := sshtest.NewServer(b)
	cfg := configFor(srv)
	ctx := context.Background()
	for b.Loop() {
		c, err := Dial(ctx, cfg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Run(ctx, "true", nil); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkRun measures one more command on an open connection.
func BenchmarkRun(b *testing.B) {
	srv := sshtest.NewServer(b)
	c, err := Dial(context.Background(), configFor(srv))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for b.Loop() {
		if _, err := c.Run(context.Background(), "true", nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpload measures uploading a 64 KiB file on an open connection.
func BenchmarkUpload(b *testing.B) {
	srv := sshtest.NewServer(b)
	c, err := Dial(context.Background(), configFor(srv))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	data := bytes.Repeat([]byte("x"), 64<<10)
	path := filepath.Join(b.TempDir(), "upload")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := c.Upload(context.Background(), path, 0o600, data); err != nil {
			b.Fatal(err)
		}
	}
}

package sshx

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/regtrust/regtrust/internal/sshtest"
)

func TestRun(t *testing.T) {
	srv := sshtest.NewServer(t)
	c := dial(t, configFor(srv))

	tests := []struct {
		name       string
		cmd        string
		stdin      io.Reader
		wantStdout string
		wantStderr string
		wantStatus int
	}{
		{name: "success", cmd: "echo hello", wantStdout: "hello\n"},
		{name: "stdin to stdout", cmd: "tr a-z A-Z", stdin: strings.NewReader("trust me\n"), wantStdout: "TRUST ME\n"},
		{name: "nil stdin reads as empty", cmd: "wc -c", wantStdout: "0\n"},
		{name: "non-zero exit", cmd: "echo partial; echo broken >&2; exit 3", wantStdout: "partial\n", wantStderr: "broken\n", wantStatus: 3},
		{name: "killed by signal", cmd: "kill -TERM $$", wantStatus: 128 + 15},
		{name: "runs in the server's home", cmd: `test "$PWD" = "$HOME" && echo same`, wantStdout: "same\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Run(context.Background(), tt.cmd, tt.stdin)
			if err != nil {
				t.Fatalf("Run(%q) error = %v; want nil", tt.cmd, err)
			}
			if string(got.Stdout) != tt.wantStdout {
				t.Errorf("Run(%q) stdout = %q; want %q", tt.cmd, got.Stdout, tt.wantStdout)
			}
			if string(got.Stderr) != tt.wantStderr {
				t.Errorf("Run(%q) stderr = %q; want %q", tt.cmd, got.Stderr, tt.wantStderr)
			}
			if got.ExitStatus != tt.wantStatus {
				t.Errorf("Run(%q) exit status = %d; want %d", tt.cmd, got.ExitStatus, tt.wantStatus)
			}
		})
	}
}

func TestResultErr(t *testing.T) {
	tests := []struct {
		name       string
		result     Result
		wantNil    bool
		wantStderr string
	}{
		{name: "status 0", result: Result{Stderr: []byte("warning\n")}, wantNil: true},
		{name: "status 1 without stderr", result: Result{ExitStatus: 1}, wantStderr: ""},
		{name: "last five lines", result: Result{ExitStatus: 2, Stderr: []byte("1\n2\n3\n\n4\n5\n6\n7\n")}, wantStderr: "3; 4; 5; 6; 7"},
		{name: "long stderr is cut", result: Result{ExitStatus: 2, Stderr: bytes.Repeat([]byte("x"), 5000)}, wantStderr: "..." + strings.Repeat("x", 1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.result.Err()
			if tt.wantNil {
				if err != nil {
					t.Fatalf("Err() = %v; want nil", err)
				}
				return
			}
			var exitErr *ExitError
			if !errors.As(err, &exitErr) {
				t.Fatalf("Err() = %v; want an *ExitError", err)
			}
			if exitErr.Status != tt.result.ExitStatus {
				t.Errorf("Status = %d; want %d", exitErr.Status, tt.result.ExitStatus)
			}
			if exitErr.Stderr != tt.wantStderr {
				t.Errorf("Stderr = %q; want %q", exitErr.Stderr, tt.wantStderr)
			}
		})
	}
}

func TestRunOutputOverLimit(t *testing.T) {
	srv := sshtest.NewServer(t)
	c := dial(t, configFor(srv))

	// One MiB more than the limit; the trailing echo shows that the
	// command kept running while its output was dropped.
	cmd := "head -c 5242880 /dev/zero; echo done >&2"
	got, err := c.Run(context.Background(), cmd, nil)
	if err == nil || !strings.Contains(err.Error(), "over the 4 MiB limit") {
		t.Errorf("Run error = %v; want one about the 4 MiB limit", err)
	}
	if len(got.Stdout) != MaxOutput {
		t.Errorf("len(Stdout) = %d; want %d", len(got.Stdout), MaxOutput)
	}
	if string(got.Stderr) != "done\n" {
		t.Errorf("Stderr = %q; want %q", got.Stderr, "done\n")
	}
}

// startSignal is a stdin that reports when the session first reads it,
// which x/crypto/ssh does only after the server has accepted the exec
// request. It returns EOF at once, or after release is closed when
// release is not nil.
type startSignal struct {
	once    sync.Once
	started chan struct{}
	release chan struct{}
}

func (s *startSignal) Read([]byte) (int, error) {
	s.once.Do(func() { close(s.started) })
	if s.release != nil {
		<-s.release
	}
	return 0, io.EOF
}

func TestRunCancelEndsHangingCommand(t *testing.T) {
	srv := sshtest.NewServer(t)
	c := dial(t, configFor(srv))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdin := &startSignal{started: make(chan struct{})}
	go func() {
		<-stdin.started
		cancel()
	}()
	_, err := c.Run(ctx, "sleep 60", stdin)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run(sleep 60) error = %v; want context.Canceled", err)
	}

	// The connection still serves new sessions after the cancel.
	got, err := c.Run(context.Background(), "echo next", nil)
	if err != nil || string(got.Stdout) != "next\n" {
		t.Errorf("Run after cancel = %q, %v; want \"next\\n\", nil", got.Stdout, err)
	}
}

func TestRunCancelEndsHangingServer(t *testing.T) {
	srv := sshtest.NewServer(t, sshtest.HangAfterHandshake())
	c := dial(t, configFor(srv))

	// The server never replies to the session open, so only the cancel
	// can end Run. The short timeout just keeps the test fast.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Run(ctx, "true", nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run on a hanging server error = %v; want context.DeadlineExceeded", err)
	}
}

func TestRunConcurrentSessionsShareConnection(t *testing.T) {
	srv := sshtest.NewServer(t)
	c := dial(t, configFor(srv))

	const sessions = 8
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for i := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := c.Run(context.Background(), "cat", strings.NewReader(strings.Repeat("x", i)))
			if err == nil && len(got.Stdout) != i {
				err = errors.New("stdout does not echo stdin")
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Run error = %v; want nil", err)
		}
	}
	if got := srv.Conns(); got != 1 {
		t.Errorf("server connections = %d; want 1", got)
	}
	if got := srv.Sessions(); got != sessions {
		t.Errorf("server sessions = %d; want %d", got, sessions)
	}
}

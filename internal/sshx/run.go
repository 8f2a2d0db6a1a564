package sshx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/crypto/ssh"
)

// MaxOutput is how many bytes Run keeps of each of stdout and stderr.
// Run reads and drops the rest, so the remote command never blocks on a
// full pipe, and reports the cut as an error.
const MaxOutput = 4 << 20

// stderrTailLines is how many of the last stderr lines an ExitError keeps.
const stderrTailLines = 5

// Result is the outcome of a command that ran to its end.
type Result struct {
	Stdout, Stderr []byte
	// ExitStatus is the command's exit status. For a command killed by a
	// signal it is 128 plus the signal number, as in a shell.
	ExitStatus int
}

// Err returns nil for exit status 0, else an *ExitError with the status
// and the last lines of stderr.
func (r Result) Err() error {
	if r.ExitStatus == 0 {
		return nil
	}
	return &ExitError{Status: r.ExitStatus, Stderr: lastLines(r.Stderr, stderrTailLines)}
}

// lastLines returns the last n non-empty lines of b, joined by "; ",
// and at most 1000 bytes of them.
func lastLines(b []byte, n int) string {
	const maxBytes = 1000
	var lines []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	s := strings.Join(lines, "; ")
	if len(s) > maxBytes {
		s = "..." + s[len(s)-maxBytes:]
	}
	return strings.ToValidUTF8(s, "?")
}

// Run runs cmd in a new session and waits for it to exit. The remote
// user's login shell parses cmd, which also appears in errors, so pass
// secrets through stdin instead. Run reads stdin, which may be nil, until
// EOF.
//
// A non-zero exit status is not an error of Run: it is in the Result, and
// Result.Err turns it into one. Errors report transport failures and
// output beyond MaxOutput, which comes with the Result cut to MaxOutput.
// When ctx is cancelled, Run sends SIGTERM to the command, closes the
// session and returns an error wrapping ctx.Err() without waiting for
// the server.
//
// NOTE: OpenSSH's sshd 9.2 ignores the signal in sessions of root and
// logs "session signalling requires privilege separation". A cancelled
// command of root therefore runs on until it ends or fails on its closed
// stdin or stdout.
func (c *Client) Run(ctx context.Context, cmd string, stdin io.Reader) (Result, error) {
	op := fmt.Sprintf("run %s", quoteCommand(cmd))
	session, err := c.newSession(ctx)
	if err != nil {
		return Result{}, c.connError(op, err)
	}
	defer session.Close()

	stdout := &cappedBuffer{limit: MaxOutput}
	stderr := &cappedBuffer{limit: MaxOutput}
	session.Stdout = stdout
	session.Stderr = stderr
	if stdin != nil {
		session.Stdin = stdin
	}

	done := make(chan error, 1)
	go func() {
		if err := session.Start(cmd); err != nil {
			done <- fmt.Errorf("start command: %w", err)
			return
		}
		done <- session.Wait()
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		// The goroutine above returns once the server closes the
		// channel or the connection ends; its buffers are dropped.
		session.Signal(ssh.SIGTERM)
		session.Close()
		return Result{}, c.connError(op, ctx.Err())
	}

	result := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var exitErr *ssh.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		result.ExitStatus = exitErr.ExitStatus()
	default:
		var missing *ssh.ExitMissingError
		if errors.As(err, &missing) {
			err = fmt.Errorf("the server closed the session without an exit status: %w", err)
		}
		return result, c.connError(op, err)
	}
	if stdout.dropped > 0 || stderr.dropped > 0 {
		return result, fmt.Errorf("%s on %s: output over the %d MiB limit was dropped (stdout %d bytes, stderr %d bytes); write large output to a file instead",
			op, c.addr, MaxOutput>>20, stdout.dropped, stderr.dropped)
	}
	return result, nil
}

// quoteCommand returns cmd quoted for messages, cut to 80 bytes.
func quoteCommand(cmd string) string {
	const maxLen = 80
	if len(cmd) > maxLen {
		return fmt.Sprintf("%q...", cmd[:maxLen])
	}
	return fmt.Sprintf("%q", cmd)
}

// newSession opens a session channel, giving up when ctx ends first. An
// abandoned open is closed as soon as the server replies to it, or fails
// when the connection closes.
func (c *Client) newSession(ctx context.Context) (*ssh.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type opened struct {
		session *ssh.Session
		err     error
	}
	result := make(chan opened)
	abandoned := make(chan struct{})
	go func() {
		session, err := c.conn.NewSession()
		select {
		case result <- opened{session, err}:
		case <-abandoned:
			if session != nil {
				session.Close()
			}
		}
	}()
	select {
	case r := <-result:
		if r.err != nil {
			return nil, fmt.Errorf("open session: %w", r.err)
		}
		return r.session, nil
	case <-ctx.Done():
		close(abandoned)
		return nil, ctx.Err()
	}
}

// cappedBuffer keeps the first limit bytes written to it and counts the
// rest. Its Write never fails, so the session keeps draining the stream.
type cappedBuffer struct {
	buf     bytes.Buffer
	limit   int
	dropped int64
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	room := b.limit - b.buf.Len()
	if room >= len(p) {
		return b.buf.Write(p)
	}
	room = max(room, 0)
	b.buf.Write(p[:room])
	b.dropped += int64(len(p) - room)
	return len(p), nil
}

func (b *cappedBuffer) Bytes() []byte { return b.buf.Bytes() }

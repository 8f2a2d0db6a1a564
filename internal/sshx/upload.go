package sshx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"

	scp "github.com/bramvdbogaerde/go-scp"
	"golang.org/x/crypto/ssh"
)

// Upload writes data to the remote file path through the remote scp
// (scp -t) on this client's connection. The remote scp creates a new
// file with mode already set, minus the remote umask, so the file is
// never readable by more users than mode allows. An existing file keeps
// its old mode and gets the new content, so callers that care about the
// mode or about atomic replacement upload to a new temporary name and
// rename it. Upload does not create folders.
func (c *Client) Upload(ctx context.Context, path string, mode fs.FileMode, data []byte) error {
	op := fmt.Sprintf("upload %s", path)
	if err := validateRemotePath(path); err != nil {
		return fmt.Errorf("%s on %s: %w", op, c.addr, err)
	}
	if mode&^fs.ModePerm != 0 {
		return fmt.Errorf("%s on %s: invalid mode %v: want permission bits only, such as 0600", op, c.addr, mode)
	}

	if err := ctx.Err(); err != nil {
		return c.connError(op, err)
	}

	client, err := scp.NewClientBySSH(c.conn)
	if err != nil {
		return c.connError(op, err)
	}
	// go-scp opens its session without a context, so it runs in a
	// goroutine that a cancelled ctx leaves behind. The goroutine ends
	// when the server replies or the connection closes.
	done := make(chan error, 1)
	go func() {
		done <- client.Copy(ctx, bytes.NewReader(data), path, fmt.Sprintf("%04o", uint32(mode)), int64(len(data)))
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		return c.connError(op, describeSCPError(err))
	}
	return nil
}

// validateRemotePath rejects paths that go-scp could not pass safely to
// the remote shell. go-scp runs `scp -qt "PATH"` with PATH in Go's %q
// quoting, so a shell would expand $ and backquotes inside it, and
// characters that %q escapes would reach scp escaped.
func validateRemotePath(path string) error {
	switch {
	case path == "":
		return errors.New("missing remote path")
	case strings.HasSuffix(path, "/"):
		return fmt.Errorf("invalid remote path %q: it names a folder; want a file path", path)
	case strings.ContainsAny(path, "$`\"\\!"):
		return fmt.Errorf("invalid remote path %q: it contains one of $ ` \" \\ !, which the remote shell would interpret", path)
	case strconv.Quote(path) != `"`+path+`"`:
		return fmt.Errorf("invalid remote path %q: it contains control or non-printable characters", path)
	}
	return nil
}

// describeSCPError adds the likely cause to errors of the remote scp,
// which go-scp returns as bare protocol messages or exit statuses.
func describeSCPError(err error) error {
	var exitErr *ssh.ExitError
	switch {
	case errors.As(err, &exitErr) && exitErr.ExitStatus() == 127:
		return fmt.Errorf("scp is not installed on the host; install openssh-client there: %w", err)
	case errors.Is(err, io.EOF):
		return fmt.Errorf("the remote scp ended before the transfer completed; check that scp is installed and the folder exists: %w", err)
	case errors.As(err, &exitErr):
		return fmt.Errorf("remote scp failed; check that the folder exists and is writable: %w", err)
	}
	// go-scp returns the remote scp's message, which ends in a newline.
	msg := strings.TrimSpace(err.Error())
	if msg != err.Error() {
		return errors.New(msg)
	}
	return err
}

package tasks

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"sync"

	"github.com/regtrust/regtrust/internal/sshx"
)

// localConn runs commands with the local /bin/sh and writes files
// directly, so task scripts can be tested against folders of the test.
// The SSH transport has tests of its own.
type localConn struct {
	mu       sync.Mutex
	commands []string
	scripts  []string
	uploads  []string
	// failUpload makes every upload fail, as a full disk would.
	failUpload bool
	// limitFileSize makes every script run with "ulimit -f 0", so any
	// write to a file fails, as on a full disk.
	limitFileSize bool
}

func (c *localConn) Run(ctx context.Context, cmd string, stdin io.Reader) (sshx.Result, error) {
	var script []byte
	if stdin != nil {
		script, _ = io.ReadAll(stdin)
	}
	c.mu.Lock()
	c.commands = append(c.commands, cmd)
	c.scripts = append(c.scripts, string(script))
	c.mu.Unlock()
	var stdout, stderr bytes.Buffer
	if c.limitFileSize {
		script = append([]byte("ulimit -f 0\n"), script...)
	}
	ex := exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
	ex.Stdin = bytes.NewReader(script)
	ex.Stdout, ex.Stderr = &stdout, &stderr
	err := ex.Run()
	res := sshx.Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.ExitStatus = ee.ExitCode()
		return res, nil
	}
	return res, err
}

func (c *localConn) Upload(ctx context.Context, path string, mode fs.FileMode, data []byte) error {
	c.mu.Lock()
	c.uploads = append(c.uploads, path)
	c.mu.Unlock()
	if c.failUpload {
		return errors.New("no space left on device")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// mapVars are host variables for tests.
type mapVars map[string]string

func (m mapVars) StringVar(name string) (string, bool, error) {
	v, ok := m[name]
	return v, ok, nil
}

package sshx

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/regtrust/regtrust/internal/sshtest"
)

const sshdPath = "/usr/sbin/sshd"

// startSSHD serves 127.0.0.1 with OpenSSH's sshd in inetd mode (sshd -i),
// one process per connection, with its own config, host key and
// authorized_keys in a temporary folder. It returns a Config that logs in
// as the current user.
func startSSHD(t *testing.T) Config {
	t.Helper()
	if _, err := os.Stat(sshdPath); err != nil {
		t.Skipf("skip the test against OpenSSH: %s not found; install openssh-server to run it", sshdPath)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatalf("look up current user: %v", err)
	}
	dir := t.TempDir()
	hostKey, hostSigner := sshtest.NewKey(t)
	hostKeyFile := sshtest.WriteKeyFile(t, hostKey, "")
	clientKey, clientSigner := sshtest.NewKey(t)
	clientKeyFile := sshtest.WriteKeyFile(t, clientKey, "")
	authorized := filepath.Join(dir, "authorized_keys")
	writeFile(t, authorized, string(ssh.MarshalAuthorizedKey(clientSigner.PublicKey())))

	config := filepath.Join(dir, "sshd_config")
	writeFile(t, config, strings.Join([]string{
		"HostKey " + hostKeyFile,
		"AuthorizedKeysFile " + authorized,
		"StrictModes no",
		"UsePAM no",
		"PermitRootLogin prohibit-password",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PidFile none",
		"LogLevel ERROR",
		"",
	}, "\n"))

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := listener.Addr().(*net.TCPAddr)
	var logs bytes.Buffer
	var logsMu sync.Mutex
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			cmd, err := sshdCommand(config, conn.(*net.TCPConn), &lockedWriter{w: &logs, mu: &logsMu})
			conn.Close()
			if err != nil {
				t.Errorf("start sshd: %v", err)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				cmd.Wait()
			}()
		}
	}()
	t.Cleanup(func() {
		listener.Close()
		wg.Wait()
		logsMu.Lock()
		defer logsMu.Unlock()
		if t.Failed() && logs.Len() > 0 {
			t.Logf("sshd log:\n%s", logs.String())
		}
	})

	known := filepath.Join(dir, "known_hosts")
	writeFile(t, known, knownhosts.Line([]string{addr.String()}, hostSigner.PublicKey())+"\n")
	return Config{
		Host:            "127.0.0.1",
		Port:            addr.Port,
		User:            me.Username,
		IdentityFiles:   []string{clientKeyFile},
		KnownHostsFiles: []string{known},
	}
}

// sshdCommand starts sshd -i on conn. As root, sshd needs the
// privilege separation folder /run/sshd, so it runs in a private mount
// namespace with its own /run, leaving the machine's /run untouched.
func sshdCommand(config string, conn *net.TCPConn, logs *lockedWriter) (*exec.Cmd, error) {
	file, err := conn.File()
	if err != nil {
		return nil, err
	}
	defer file.Close()
	args := []string{sshdPath, "-i", "-e", "-f", config}
	if os.Geteuid() == 0 {
		setup := `mount -t tmpfs tmpfs /run && mkdir -m 0755 /run/sshd && exec "$@"`
		args = append([]string{"unshare", "--mount", "sh", "-c", setup, "sh"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = file
	cmd.Stdout = file
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, nil
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestOpenSSHServer(t *testing.T) {
	c := dial(t, startSSHD(t))
	ctx := context.Background()

	t.Run("run with stdin and exit status", func(t *testing.T) {
		got, err := c.Run(ctx, "cat; echo problem >&2; exit 7", strings.NewReader("payload"))
		if err != nil {
			t.Fatalf("Run error = %v; want nil", err)
		}
		if string(got.Stdout) != "payload" {
			t.Errorf("stdout = %q; want %q", got.Stdout, "payload")
		}
		if got.ExitStatus != 7 {
			t.Errorf("exit status = %d; want 7", got.ExitStatus)
		}
		var exitErr *ExitError
		if !errors.As(got.Err(), &exitErr) || exitErr.Stderr != "problem" {
			t.Errorf("Err() = %v; want an *ExitError with stderr %q", got.Err(), "problem")
		}
	})

	t.Run("upload modes", func(t *testing.T) {
		dir := t.TempDir()
		for _, mode := range []os.FileMode{0o600, 0o644} {
			path := filepath.Join(dir, fmt.Sprintf("file-%o", mode))
			if err := c.Upload(ctx, path, mode, []byte("data")); err != nil {
				t.Fatalf("Upload(%v) error = %v; want nil", mode, err)
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm()&^mode != 0 {
				t.Errorf("mode = %v; want at most %v", info.Mode().Perm(), mode)
			}
			if got := readFile(t, path); got != "data" {
				t.Errorf("content = %q; want %q", got, "data")
			}
		}
	})

	t.Run("cancel ends a running command", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		// cat waits for stdin, which stays open until the test ends, and
		// exits when sshd closes its input with the channel. A command
		// that ignores its input would outlive the cancel, because sshd
		// refuses signal requests in sessions of root.
		stdin := &startSignal{started: make(chan struct{}), release: make(chan struct{})}
		t.Cleanup(func() { close(stdin.release) })
		go func() {
			<-stdin.started
			cancel()
		}()
		_, err := c.Run(ctx, "cat >/dev/null", stdin)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run error = %v; want context.Canceled", err)
		}
	})
}

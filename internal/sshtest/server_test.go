package sshtest

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// connect logs in to srv with x/crypto/ssh directly, checking the host
// key against srv.KnownHostsFile.
func connect(t *testing.T, srv *Server, user, keyFile string) (*ssh.Client, error) {
	t.Helper()
	pemBytes, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(pemBytes)
	if err != nil {
		t.Fatalf("parse client key: %v", err)
	}
	hostKeys, err := knownhosts.New(srv.KnownHostsFile)
	if err != nil {
		t.Fatalf("read known_hosts: %v", err)
	}
	client, err := ssh.Dial("tcp", srv.Addr, &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys,
		Timeout:         10 * time.Second,
	})
	if err == nil {
		t.Cleanup(func() { client.Close() })
	}
	return client, err
}

func TestServerRunsCommands(t *testing.T) {
	srv := NewServer(t)
	client, err := connect(t, srv, srv.User, srv.ClientKeyFile)
	if err != nil {
		t.Fatalf("log in: %v", err)
	}

	tests := []struct {
		name       string
		cmd        string
		stdin      string
		wantStdout string
		wantStderr string
		wantStatus int
	}{
		{name: "stdout", cmd: "echo hi", wantStdout: "hi\n"},
		{name: "stdin", cmd: "cat", stdin: "piped", wantStdout: "piped"},
		{name: "stderr and status", cmd: "echo bad >&2; exit 4", wantStderr: "bad\n", wantStatus: 4},
		{name: "home", cmd: `echo "$HOME"`, wantStdout: srv.Home + "\n"},
		{name: "signal outside RFC 4254 list", cmd: "kill -s PROF $$", wantStatus: 128 + 27},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			session, err := client.NewSession()
			if err != nil {
				t.Fatalf("open session: %v", err)
			}
			defer session.Close()
			var stdout, stderr bytes.Buffer
			session.Stdin = strings.NewReader(tt.stdin)
			session.Stdout = &stdout
			session.Stderr = &stderr

			err = session.Run(tt.cmd)
			status := 0
			var exitErr *ssh.ExitError
			if errors.As(err, &exitErr) {
				status = exitErr.ExitStatus()
			} else if err != nil {
				t.Fatalf("run %q: %v", tt.cmd, err)
			}
			if status != tt.wantStatus {
				t.Errorf("exit status = %d; want %d", status, tt.wantStatus)
			}
			if stdout.String() != tt.wantStdout {
				t.Errorf("stdout = %q; want %q", stdout.String(), tt.wantStdout)
			}
			if stderr.String() != tt.wantStderr {
				t.Errorf("stderr = %q; want %q", stderr.String(), tt.wantStderr)
			}
		})
	}
}

func TestServerForwardsSignal(t *testing.T) {
	srv := NewServer(t)
	client, err := connect(t, srv, srv.User, srv.ClientKeyFile)
	if err != nil {
		t.Fatalf("log in: %v", err)
	}
	session, err := client.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()

	stdout, err := session.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// read waits on stdin, which stays open. The shell starts no child
	// process, because a child forked while the trap is set could catch
	// the TERM meant for it and then survive its exec.
	stdin, err := session.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := session.Start("trap 'exit 42' TERM; echo ready; read line"); err != nil {
		t.Fatal(err)
	}

	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("first line = %q, %v; want \"ready\\n\"", line, err)
	}
	if err := session.Signal(ssh.SIGTERM); err != nil {
		t.Fatal(err)
	}

	var exitErr *ssh.ExitError
	if err := session.Wait(); !errors.As(err, &exitErr) || exitErr.ExitStatus() != 42 {
		t.Errorf("Wait = %v; want exit status 42 from the TERM trap", err)
	}
}

func TestServerCountsConnsAndSessions(t *testing.T) {
	srv := NewServer(t)
	const conns, sessionsPerConn = 2, 3
	var wg sync.WaitGroup
	release := make(chan struct{})
	started := make(chan struct{}, conns*sessionsPerConn)
	for range conns {
		client, err := connect(t, srv, srv.User, srv.ClientKeyFile)
		if err != nil {
			t.Fatalf("log in: %v", err)
		}
		for range sessionsPerConn {
			session, err := client.NewSession()
			if err != nil {
				t.Fatal(err)
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer session.Close()
				stdin, _ := session.StdinPipe()
				session.Start("cat")
				started <- struct{}{}
				<-release
				stdin.Close()
				session.Wait()
			}()
		}
	}
	for range conns * sessionsPerConn {
		<-started
	}
	close(release)
	wg.Wait()

	if got := srv.Conns(); got != conns {
		t.Errorf("Conns() = %d; want %d", got, conns)
	}
	if got := srv.Sessions(); got != conns*sessionsPerConn {
		t.Errorf("Sessions() = %d; want %d", got, conns*sessionsPerConn)
	}
	if got := srv.PeakSessions(); got != conns*sessionsPerConn {
		t.Errorf("PeakSessions() = %d; want %d, because all sessions were open at once", got, conns*sessionsPerConn)
	}
}

func TestServerRejectsLogins(t *testing.T) {
	key, extra := NewKey(t)
	srv := NewServer(t, WithAuthorizedKeys(extra.PublicKey()))
	stranger, _ := NewKey(t)

	tests := []struct {
		name    string
		user    string
		keyFile string
		wantErr bool
	}{
		{name: "client key", user: srv.User, keyFile: srv.ClientKeyFile},
		{name: "extra authorized key", user: srv.User, keyFile: WriteKeyFile(t, key, "")},
		{name: "unknown key", user: srv.User, keyFile: WriteKeyFile(t, stranger, ""), wantErr: true},
		{name: "wrong user", user: "root", keyFile: srv.ClientKeyFile, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := connect(t, srv, tt.user, tt.keyFile)
			if (err != nil) != tt.wantErr {
				t.Errorf("log in error = %v; want error %v", err, tt.wantErr)
			}
		})
	}
	if got := srv.Conns(); got != len(tests) {
		t.Errorf("Conns() = %d; want %d, failed logins included", got, len(tests))
	}
}

func TestServerHostKeyOptions(t *testing.T) {
	_, custom := NewKey(t)
	tests := []struct {
		name       string
		opts       []Option
		wantListed func(srv *Server) ssh.PublicKey
		wantLogin  bool
	}{
		{name: "default", wantListed: func(srv *Server) ssh.PublicKey { return srv.HostKey }, wantLogin: true},
		{name: "given key", opts: []Option{WithHostKeys(custom)}, wantListed: func(*Server) ssh.PublicKey { return custom.PublicKey() }, wantLogin: true},
		{name: "changed key", opts: []Option{WithChangedHostKey()}, wantListed: func(srv *Server) ssh.PublicKey { return srv.ListedHostKey }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := NewServer(t, tt.opts...)
			content, err := os.ReadFile(srv.KnownHostsFile)
			if err != nil {
				t.Fatal(err)
			}
			want := knownhosts.Line([]string{srv.Addr}, tt.wantListed(srv)) + "\n"
			if string(content) != want {
				t.Errorf("known_hosts = %q; want %q", content, want)
			}
			_, err = connect(t, srv, srv.User, srv.ClientKeyFile)
			if (err == nil) != tt.wantLogin {
				t.Errorf("log in error = %v; want success %v", err, tt.wantLogin)
			}
		})
	}
}

func TestServerHangBeforeHandshake(t *testing.T) {
	srv := NewServer(t, HangBeforeHandshake())
	conn, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A deadline in the past makes the read return at once with a
	// timeout, unless the server had already sent its version line.
	conn.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	n, err := conn.Read(make([]byte, 64))
	var netErr net.Error
	if !errors.As(err, &netErr) || !netErr.Timeout() {
		t.Errorf("read = %d bytes, %v; want a timeout because the server sends nothing", n, err)
	}
}

func TestServerHangAfterHandshake(t *testing.T) {
	srv := NewServer(t, HangAfterHandshake())
	client, err := connect(t, srv, srv.User, srv.ClientKeyFile)
	if err != nil {
		t.Fatalf("log in: %v", err)
	}
	opened := make(chan error, 1)
	go func() {
		_, _, err := client.OpenChannel("session", nil)
		opened <- err
	}()
	client.Close() // the only way the pending open can end
	if err := <-opened; err == nil {
		t.Errorf("OpenChannel on a hanging server succeeded; want it pending until the connection closed")
	}
	if got := srv.Conns(); got != 1 {
		t.Errorf("Conns() = %d; want 1", got)
	}
}

// Package sshtest runs an in-process SSH server for unit tests.
//
// The server listens on 127.0.0.1 and accepts public-key logins for a
// generated client key. It runs every exec request as a local child
// process with /bin/sh -c, so tests drive real shell commands and real
// scp uploads (scp -t) without a system sshd. Commands run as the user
// of the test process, in a fresh temporary folder.
package sshtest

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Server is an SSH server on 127.0.0.1 that lives until the end of the
// test that created it.
type Server struct {
	Addr string // "127.0.0.1:PORT"
	Host string // "127.0.0.1"
	Port int

	// HostKey is the first host key the server presents.
	HostKey ssh.PublicKey
	// ListedHostKey is the key that KnownHostsFile lists for the server:
	// HostKey, unless WithChangedHostKey was given.
	ListedHostKey ssh.PublicKey
	// KnownHostsFile is a known_hosts file with one line for
	// [127.0.0.1]:PORT and ListedHostKey.
	KnownHostsFile string

	// ClientKeyFile is an unencrypted ed25519 private key file in OpenSSH
	// format that the server accepts for User.
	ClientKeyFile string
	User          string

	// Home is the working directory and $HOME of every command the
	// server runs, so relative paths land in a temporary folder.
	Home string

	opts     options
	config   *ssh.ServerConfig
	listener net.Listener
	wg       sync.WaitGroup

	mu           sync.Mutex
	closed       bool
	conns        map[net.Conn]struct{}
	openSessions int
	peakSessions int

	connCount    atomic.Int64
	sessionCount atomic.Int64
	forwardCount atomic.Int64
}

// Option changes how NewServer sets up a Server.
type Option func(*options)

type hangStage int

const (
	hangNever hangStage = iota
	hangBeforeHandshake
	hangAfterHandshake
)

type options struct {
	hostKeys       []ssh.Signer
	authorizedKeys []ssh.PublicKey
	changedHostKey bool
	hang           hangStage
	forwardHosts   map[string]string
	password       string
	forwarding     bool
	dropFirst      int64
}

// WithPassword makes the server accept password logins for User with
// this password, through both the "password" and the
// "keyboard-interactive" method.
func WithPassword(password string) Option {
	return func(o *options) { o.password = password }
}

// WithForwarding makes the server open direct-tcpip channels, as a jump
// host does. It connects only to loopback addresses and rejects any
// other destination as prohibited. Without this option every
// direct-tcpip channel is rejected as prohibited, as by an sshd with
// AllowTcpForwarding no.
func WithForwarding() Option {
	return func(o *options) { o.forwarding = true }
}

// DropFirstConns makes the server close its first n TCP connections as
// soon as it accepts them, before it sends its SSH version.
func DropFirstConns(n int) Option {
	return func(o *options) { o.dropFirst = int64(n) }
}

// WithHostKeys makes the server present these host keys instead of one
// generated ed25519 key. HostKey and KnownHostsFile use the first one.
func WithHostKeys(signers ...ssh.Signer) Option {
	return func(o *options) { o.hostKeys = append(o.hostKeys, signers...) }
}

// WithAuthorizedKeys makes the server accept logins with these public
// keys too, besides the key in ClientKeyFile.
func WithAuthorizedKeys(keys ...ssh.PublicKey) Option {
	return func(o *options) { o.authorizedKeys = append(o.authorizedKeys, keys...) }
}

// WithChangedHostKey writes a freshly generated key into KnownHostsFile
// in place of the key the server presents, as after a reinstall or during
// a man-in-the-middle attack.
func WithChangedHostKey() Option {
	return func(o *options) { o.changedHostKey = true }
}

// HangBeforeHandshake makes the server accept TCP connections but never
// send its SSH version, so a client's handshake stalls until it times out.
func HangBeforeHandshake() Option {
	return func(o *options) { o.hang = hangBeforeHandshake }
}

// HangAfterHandshake makes the server complete the handshake and the
// login and then reply to nothing. Channel opens and global requests
// such as keepalives stay pending until the client gives up or the test
// ends.
func HangAfterHandshake() Option {
	return func(o *options) { o.hang = hangAfterHandshake }
}

// WithForwardHosts makes names resolvable for direct-tcpip channels
// only: each name maps to a loopback IP address, as a host's private
// /etc/hosts would. The test process itself cannot resolve these names,
// so a connection that reaches them must have gone through the server.
func WithForwardHosts(hosts map[string]string) Option {
	return func(o *options) { o.forwardHosts = hosts }
}

// NewServer starts a server on 127.0.0.1 with a free port and stops it
// when the test ends. It fails the test when scp is not installed,
// because uploads run the local scp as the remote side.
func NewServer(t testing.TB, opts ...Option) *Server {
	t.Helper()
	if _, err := exec.LookPath("scp"); err != nil {
		t.Fatalf("find scp for the test server: %v; install openssh-client", err)
	}

	s := &Server{
		Host:  "127.0.0.1",
		User:  "tester",
		Home:  t.TempDir(),
		conns: make(map[net.Conn]struct{}),
	}
	for _, opt := range opts {
		opt(&s.opts)
	}
	if len(s.opts.hostKeys) == 0 {
		_, signer := NewKey(t)
		s.opts.hostKeys = []ssh.Signer{signer}
	}
	s.HostKey = s.opts.hostKeys[0].PublicKey()
	s.ListedHostKey = s.HostKey
	if s.opts.changedHostKey {
		_, stale := NewKey(t)
		s.ListedHostKey = stale.PublicKey()
	}

	clientKey, clientSigner := NewKey(t)
	s.ClientKeyFile = WriteKeyFile(t, clientKey, "")
	authorized := append([]ssh.PublicKey{clientSigner.PublicKey()}, s.opts.authorizedKeys...)
	s.config = newServerConfig(s.User, authorized, s.opts.hostKeys, s.opts.password)

	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.1: %v", err)
	}
	s.listener = listener
	s.Addr = listener.Addr().String()
	s.Port = listener.Addr().(*net.TCPAddr).Port

	s.KnownHostsFile = filepath.Join(t.TempDir(), "known_hosts")
	line := knownhosts.Line([]string{s.Addr}, s.ListedHostKey) + "\n"
	if err := os.WriteFile(s.KnownHostsFile, []byte(line), 0o600); err != nil {
		listener.Close()
		t.Fatalf("write known_hosts for the test server: %v", err)
	}

	s.wg.Add(1)
	go s.acceptLoop()
	t.Cleanup(s.close)
	return s
}

func newServerConfig(user string, authorized []ssh.PublicKey, hostKeys []ssh.Signer, password string) *ssh.ServerConfig {
	config := &ssh.ServerConfig{
		PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if meta.User() != user {
				return nil, errors.New("unknown user")
			}
			for _, k := range authorized {
				if bytes.Equal(k.Marshal(), key.Marshal()) {
					return &ssh.Permissions{}, nil
				}
			}
			return nil, errors.New("public key not authorized")
		},
	}
	if password != "" {
		config.PasswordCallback = func(meta ssh.ConnMetadata, given []byte) (*ssh.Permissions, error) {
			if meta.User() != user || string(given) != password {
				return nil, errors.New("wrong user or password")
			}
			return &ssh.Permissions{}, nil
		}
		config.KeyboardInteractiveCallback = func(meta ssh.ConnMetadata, challenge ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			answers, err := challenge(meta.User(), "", []string{"Password: "}, []bool{false})
			if err != nil {
				return nil, err
			}
			if meta.User() != user || len(answers) != 1 || answers[0] != password {
				return nil, errors.New("wrong user or password")
			}
			return &ssh.Permissions{}, nil
		}
	}
	for _, signer := range hostKeys {
		config.AddHostKey(signer)
	}
	return config
}

// Conns returns how many TCP connections the server has accepted so far,
// failed logins included. A client that completed a login is always
// counted, because the server counts before it sends its SSH version.
func (s *Server) Conns() int { return int(s.connCount.Load()) }

// Forwards returns how many direct-tcpip channels the server accepted,
// that is, TCP connections it opened on a client's behalf.
func (s *Server) Forwards() int { return int(s.forwardCount.Load()) }

// Sessions returns how many session channels clients have opened so far.
func (s *Server) Sessions() int { return int(s.sessionCount.Load()) }

// PeakSessions returns the largest number of session channels that were
// open at the same time.
func (s *Server) PeakSessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakSessions
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		conn, err := s.listener.Accept()
		if err != nil {
			return // the listener is closed
		}
		if !s.track(conn) {
			conn.Close()
			return
		}
		if s.connCount.Add(1) <= s.opts.dropFirst {
			s.untrack(conn)
			conn.Close()
			continue
		}
		s.wg.Add(1)
		go s.serveConn(conn)
	}
}

// track registers conn so that close can end it. It returns false once
// the server is closing.
func (s *Server) track(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[conn] = struct{}{}
	return true
}

func (s *Server) untrack(conn net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, conn)
}

// close stops accepting, ends every connection, which kills the commands
// still running, and waits for all goroutines of the server to return.
func (s *Server) close() {
	s.mu.Lock()
	s.closed = true
	for conn := range s.conns {
		conn.Close()
	}
	s.mu.Unlock()
	s.listener.Close()
	s.wg.Wait()
}

func (s *Server) serveConn(conn net.Conn) {
	defer s.wg.Done()
	defer s.untrack(conn)
	defer conn.Close()

	if s.opts.hang == hangBeforeHandshake {
		io.Copy(io.Discard, conn) // returns when either side closes
		return
	}
	sconn, channels, requests, err := ssh.NewServerConn(conn, s.config)
	if err != nil {
		return // failed login or broken handshake; the client sees why
	}

	if s.opts.hang == hangAfterHandshake {
		// Read the queues so the connection stays healthy, but reply to
		// nothing. The pending requests end when the connection closes.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			for range requests {
			}
		}()
		for range channels {
		}
		sconn.Wait()
		return
	}

	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ssh.DiscardRequests(requests) // replies false, which keepalives accept
	}()
	for newChannel := range channels {
		if newChannel.ChannelType() == "direct-tcpip" {
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serveForward(newChannel)
			}()
			continue
		}
		if newChannel.ChannelType() != "session" {
			newChannel.Reject(ssh.UnknownChannelType, "only session and direct-tcpip channels are served")
			continue
		}
		channel, requests, err := newChannel.Accept()
		if err != nil {
			continue
		}
		s.sessionOpened()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.sessionClosed()
			s.serveSession(channel, requests)
		}()
	}
}

func (s *Server) sessionOpened() {
	s.sessionCount.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.openSessions++
	s.peakSessions = max(s.peakSessions, s.openSessions)
}

func (s *Server) sessionClosed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.openSessions--
}

// serveSession answers the requests of one session channel. It serves a
// single exec request and forwards signal requests to that command, and
// it kills the command when the client closes the channel first.
func (s *Server) serveSession(channel ssh.Channel, requests <-chan *ssh.Request) {
	defer channel.Close()
	var proc *process
	for req := range requests {
		switch req.Type {
		case "exec":
			if proc != nil {
				req.Reply(false, nil)
				continue
			}
			var payload struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
				req.Reply(false, nil)
				continue
			}
			started, err := startProcess(channel, payload.Command, s.Home)
			if err != nil {
				req.Reply(false, nil)
				continue
			}
			proc = started
			req.Reply(true, nil)
			s.wg.Add(2)
			go func() {
				defer s.wg.Done()
				started.copyStdin(channel)
			}()
			go func() {
				defer s.wg.Done()
				started.wait(channel)
			}()
		case "signal":
			var payload struct{ Signal string }
			if proc != nil && ssh.Unmarshal(req.Payload, &payload) == nil {
				proc.signal(payload.Signal)
			}
			if req.WantReply {
				req.Reply(proc != nil, nil)
			}
		default:
			// pty-req, env, shell, subsystem and others are not served.
			if req.WantReply {
				req.Reply(false, nil)
			}
		}
	}
	// The request queue closes when the channel or the connection is gone.
	if proc != nil {
		proc.kill()
	}
}

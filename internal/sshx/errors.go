package sshx

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// Sentinel errors that Dial wraps, for errors.Is.
var (
	// ErrUnreachable means no SSH session could be set up with the host:
	// the name did not resolve, the TCP connect was refused, timed out or
	// had no route, or the server did not finish the handshake in time.
	ErrUnreachable = errors.New("host unreachable")
	// ErrAuthFailed means the server rejected every key offered and the
	// password, if one was set.
	ErrAuthFailed = errors.New("authentication failed")
)

// HostKeyError reports a host key that is not on file, or that differs
// from the keys on file. Known is empty for an unknown host.
type HostKeyError struct {
	Host        string
	Port        int
	Fingerprint string   // SHA256:... of the key the server offered
	Known       []string // SHA256:... of the keys on file for the host
	File        string   // the known_hosts file to fix
}

func (e *HostKeyError) Error() string {
	addr := net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
	if len(e.Known) == 0 {
		return fmt.Sprintf("host key for %s is not in %s (offered %s); add it with: ssh-keyscan -p %d %s >> %s, after checking the fingerprint, or rerun with --accept-new-host-keys",
			addr, e.File, e.Fingerprint, e.Port, e.Host, e.File)
	}
	return fmt.Sprintf("host key for %s CHANGED: offered %s, known %s in %s; this may be a man-in-the-middle attack. If the host was reinstalled, check the new fingerprint, then remove the old key with: ssh-keygen -R %s -f %s",
		addr, e.Fingerprint, strings.Join(e.Known, ", "), e.File, knownHostsPattern(e.Host, e.Port), e.File)
}

// knownHostsPattern returns the host as known_hosts and ssh-keygen -R
// write it: HOST for port 22, else [HOST]:PORT in quotes for the shell.
func knownHostsPattern(host string, port int) string {
	if port == DefaultPort {
		return host
	}
	return fmt.Sprintf("'[%s]:%d'", host, port)
}

// ExitError reports a remote command that exited with a non-zero status.
type ExitError struct {
	Status int
	Stderr string // the last lines of the command's stderr
}

func (e *ExitError) Error() string {
	if e.Stderr == "" {
		return fmt.Sprintf("command exited with status %d", e.Status)
	}
	return fmt.Sprintf("command exited with status %d: %s", e.Status, e.Stderr)
}

// classifyDialError wraps err, a failure of the TCP connect, of the
// direct-tcpip channel through a jump host, or of the SSH handshake with
// addr, in ErrUnreachable or ErrAuthFailed where it is one of those. Host
// key errors and other failures keep their own type.
func classifyDialError(err error, user, addr string, timeout time.Duration) error {
	var hostKeyErr *HostKeyError
	var openErr *ssh.OpenChannelError
	switch {
	case errors.As(err, &hostKeyErr):
		return hostKeyErr // its message names the host and the fix
	case errors.As(err, &openErr) && openErr.Reason == ssh.Prohibited:
		return fmt.Errorf("connect to %s: the jump host does not forward TCP connections; set AllowTcpForwarding yes in its sshd_config: %w", addr, err)
	case errors.As(err, &openErr):
		// ConnectFailed and the rest: the jump host could not reach addr.
		return fmt.Errorf("connect to %s: %w: the jump host could not connect: %w", addr, ErrUnreachable, err)
	case isAuthFailure(err):
		return fmt.Errorf("log in as %s@%s: %w: the server accepted none of the offered keys nor the password, if one was set; check the identity files, the agent, the password and the server's authorized_keys: %w",
			user, addr, ErrAuthFailed, err)
	case isTimeout(err):
		return fmt.Errorf("connect to %s: %w: timed out after %v: %w", addr, ErrUnreachable, timeout, err)
	case isNetworkFailure(err):
		return fmt.Errorf("connect to %s: %w: %w", addr, ErrUnreachable, err)
	}
	return fmt.Errorf("connect to %s: %w", addr, err)
}

// isAuthFailure matches the messages of x/crypto/ssh and of OpenSSH's
// disconnect for a rejected login; x/crypto/ssh has no error type for it.
func isAuthFailure(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "unable to authenticate") ||
		strings.Contains(msg, "too many authentication failures")
}

func isTimeout(err error) bool {
	var netErr net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.Is(err, syscall.ETIMEDOUT) ||
		(errors.As(err, &netErr) && netErr.Timeout())
}

// isNetworkFailure reports failures that mean the host or its SSH server
// cannot be reached now, including a server that closes the connection
// before the login, as sshd does under MaxStartups or TCP wrappers.
func isNetworkFailure(err error) bool {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	return errors.As(err, &dnsErr) ||
		errors.As(err, &opErr) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF)
}

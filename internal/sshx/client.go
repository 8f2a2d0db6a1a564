// Package sshx is the SSH transport. It dials a host with public-key
// authentication and verified host keys, runs commands and uploads
// files. It does not depend on tasks or inventories, because callers
// describe each host with a Config.
package sshx

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// keepAliveMisses is how many keepalive intervals a server may leave a
// request unanswered before the connection is closed, as with OpenSSH's
// default ServerAliveCountMax of 3.
const keepAliveMisses = 3

// Client is one SSH connection to a host. It is safe for concurrent use:
// every Run and Upload opens its own session on the shared connection.
// OpenSSH's sshd allows 10 sessions per connection by default
// (MaxSessions), so callers should cap their parallel calls.
type Client struct {
	conn *ssh.Client
	addr string // HOST:PORT for messages

	stop          chan struct{} // closed by Close to end the keepalive goroutine
	keepAliveDone chan struct{} // closed when the keepalive goroutine returns
	lost          atomic.Bool   // set when the connection was closed for missed keepalives
	keepAlive     time.Duration

	closeOnce sync.Once
	closeErr  error
}

// Dial connects to cfg.Host, verifies its host key against
// cfg.KnownHostsFiles and logs in with the keys of cfg.IdentityFiles and,
// with cfg.UseAgent, of the agent. The TCP connect and the handshake
// together take at most cfg.ConnectTimeout.
//
// Errors wrap ErrUnreachable or ErrAuthFailed where those apply. A host
// key that is unknown or changed gives a *HostKeyError, and a cancelled
// ctx gives an error wrapping ctx.Err().
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	addr := cfg.address()

	keys, err := loadKeyring(cfg)
	if err != nil {
		return nil, err
	}
	defer keys.close() // the agent is needed only for the login

	db, err := loadKnownHosts(cfg.KnownHostsFiles)
	if err != nil {
		return nil, fmt.Errorf("check host key for %s: %w", addr, err)
	}
	checker := &hostKeyChecker{
		host:      cfg.Host,
		port:      cfg.Port,
		files:     cfg.KnownHostsFiles,
		acceptNew: cfg.AcceptNewHostKeys,
		db:        db,
	}
	plain, authorities := db.keysOnFile(addr)
	clientConfig := &ssh.ClientConfig{
		User:              cfg.User,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(keys.signers...)},
		HostKeyCallback:   checker.verify,
		HostKeyAlgorithms: hostKeyAlgorithms(plain, authorities),
	}

	conn, err := handshake(ctx, cfg, clientConfig)
	if err != nil {
		return nil, err
	}
	c := &Client{
		conn:          conn,
		addr:          addr,
		stop:          make(chan struct{}),
		keepAliveDone: make(chan struct{}),
		keepAlive:     cfg.KeepAlive,
	}
	go c.sendKeepAlives()
	return c, nil
}

// handshake opens the TCP connection and runs the SSH handshake and login
// within cfg.ConnectTimeout, ending early when ctx is cancelled.
func handshake(ctx context.Context, cfg Config, clientConfig *ssh.ClientConfig) (*ssh.Client, error) {
	addr := cfg.address()
	dialCtx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()

	var dialer net.Dialer
	netConn, err := dialer.DialContext(dialCtx, "tcp", addr)
	if err != nil {
		if ctxErr := contextError(ctx); ctxErr != nil {
			return nil, fmt.Errorf("connect to %s: %w", addr, ctxErr)
		}
		return nil, classifyDialError(err, cfg.User, addr, cfg.ConnectTimeout)
	}

	// ssh.NewClientConn takes no context: a deadline bounds it, and a
	// cancelled ctx moves that deadline to the past.
	deadline, _ := dialCtx.Deadline()
	netConn.SetDeadline(deadline)
	stopInterrupt := context.AfterFunc(dialCtx, func() {
		netConn.SetDeadline(time.Unix(1, 0))
	})
	sshConn, channels, requests, err := ssh.NewClientConn(netConn, addr, clientConfig)
	interrupted := !stopInterrupt()
	if err == nil && interrupted {
		sshConn.Close()
		err = context.Cause(dialCtx)
	}
	if err != nil {
		netConn.Close()
		if ctxErr := contextError(ctx); ctxErr != nil {
			return nil, fmt.Errorf("connect to %s: %w", addr, ctxErr)
		}
		return nil, classifyDialError(err, cfg.User, addr, cfg.ConnectTimeout)
	}
	netConn.SetDeadline(time.Time{})
	return ssh.NewClient(sshConn, channels, requests), nil
}

// contextError returns ctx.Err(), or context.DeadlineExceeded once the
// deadline of ctx has passed even if its timer has not fired yet: the
// connection's deadline is set to the same instant and may fire first.
func contextError(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// sendKeepAlives sends a keepalive@openssh.com request every interval
// until Close. A server that leaves one unanswered for keepAliveMisses
// intervals is taken as gone, and the connection is closed so that
// pending calls fail instead of hanging.
func (c *Client) sendKeepAlives() {
	defer close(c.keepAliveDone)
	ticker := time.NewTicker(c.keepAlive)
	defer ticker.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-ticker.C:
		}
		watchdog := time.AfterFunc(keepAliveMisses*c.keepAlive, func() {
			c.lost.Store(true)
			c.conn.Close()
		})
		// Any reply counts, including a failure, because OpenSSH
		// replies to unknown global requests with a failure.
		_, _, err := c.conn.SendRequest("keepalive@openssh.com", true, nil)
		watchdog.Stop()
		if err != nil {
			return // the connection is closed
		}
	}
}

// Close closes the connection, which ends all sessions, and waits for
// the keepalive goroutine to return. Calls after the first return the
// first call's result.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		close(c.stop)
		err := c.conn.Close()
		<-c.keepAliveDone
		if err != nil && !c.lost.Load() {
			c.closeErr = fmt.Errorf("close connection to %s: %w", c.addr, err)
		}
	})
	return c.closeErr
}

// connError wraps a session failure of the operation op, naming the
// host and, when the keepalive watchdog closed the connection, why.
func (c *Client) connError(op string, err error) error {
	if c.lost.Load() {
		return fmt.Errorf("%s on %s: connection lost: no keepalive reply within %v: %w",
			op, c.addr, keepAliveMisses*c.keepAlive, err)
	}
	return fmt.Errorf("%s on %s: %w", op, c.addr, err)
}

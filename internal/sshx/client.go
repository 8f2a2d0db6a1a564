// Package sshx is the SSH transport. It dials a host, directly or
// through jump hosts, with public-key or password authentication and
// verified host keys, runs commands and uploads files. It does not depend on tasks or inventories, because callers
// describe each host with a Config.
package sshx

import (
	"fmt"
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
	conn  *ssh.Client
	addr  string        // HOST:PORT for messages
	jumps []*ssh.Client // the jump host connections, first hop first

	stop          chan struct{} // closed by Close to end the keepalive goroutine
	keepAliveDone chan struct{} // closed when the keepalive goroutine returns
	lost          atomic.Bool   // set when the connection was closed for missed keepalives
	keepAlive     time.Duration

	closeOnce sync.Once
	closeErr  error
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

// Close closes the connection, which ends all sessions, then the jump
// host connections, last hop first, and waits for the keepalive
// goroutine to return. Calls after the first return the first call's
// result.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		close(c.stop)
		err := c.conn.Close()
		<-c.keepAliveDone
		closeAll(c.jumps)
		if err != nil && !c.lost.Load() {
			c.closeErr = fmt.Errorf("close connection to %s: %w", c.addr, err)
		}
	})
	return c.closeErr
}

// closeAll closes connections in reverse order, so each tunnel closes
// before the connection that carries it.
func closeAll(clients []*ssh.Client) {
	for i := len(clients) - 1; i >= 0; i-- {
		clients[i].Close()
	}
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

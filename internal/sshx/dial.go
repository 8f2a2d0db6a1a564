package sshx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/crypto/ssh"
)

// Dial connects to cfg.Host, through cfg.Jumps when there are any. It
// verifies every hop's host key against that hop's KnownHostsFiles and
// logs in to every hop with its own keys, agent and password. The TCP
// connect (or direct-tcpip channel) and the handshake of each hop take
// at most that hop's ConnectTimeout. An unreachable hop makes Dial try
// the whole chain again, up to cfg.ConnectRetries more times.
//
// Errors wrap ErrUnreachable or ErrAuthFailed where those apply, and
// name the jump host that failed. A host key that is unknown or changed
// gives a *HostKeyError, and a cancelled ctx gives an error wrapping
// ctx.Err().
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	delay := cfg.RetryDelay
	for attempt := 1; ; attempt++ {
		c, err := dialOnce(ctx, cfg)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, ErrUnreachable) || attempt > cfg.ConnectRetries {
			if attempt > 1 {
				err = fmt.Errorf("%w (gave up after %d attempts)", err, attempt)
			}
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to %s: %w, after: %w", cfg.address(), ctx.Err(), err)
		case <-time.After(delay):
		}
		delay *= 2
	}
}

// dialOnce connects to every hop in turn. It needs cfg with defaults.
func dialOnce(ctx context.Context, cfg Config) (*Client, error) {
	target := cfg
	target.Jumps = nil
	hops := append(append([]Config(nil), cfg.Jumps...), target)

	var clients []*ssh.Client
	var via *ssh.Client
	for i, hop := range hops {
		client, err := connectHop(ctx, hop, via)
		if err != nil {
			closeAll(clients)
			if i < len(hops)-1 {
				return nil, fmt.Errorf("reach %s through jump host %d of %d: %w", target.address(), i+1, len(cfg.Jumps), err)
			}
			if len(cfg.Jumps) > 0 {
				return nil, fmt.Errorf("reach %s through jump host %s: %w", target.address(), cfg.Jumps[len(cfg.Jumps)-1].address(), err)
			}
			return nil, err
		}
		clients = append(clients, client)
		via = client
	}
	last := len(clients) - 1
	c := &Client{
		conn:          clients[last],
		addr:          target.address(),
		jumps:         clients[:last],
		stop:          make(chan struct{}),
		keepAliveDone: make(chan struct{}),
		keepAlive:     cfg.KeepAlive,
	}
	go c.sendKeepAlives()
	return c, nil
}

// connectHop opens the connection to one hop, over TCP when via is nil
// and else through a direct-tcpip channel of via, and logs in.
func connectHop(ctx context.Context, hop Config, via *ssh.Client) (*ssh.Client, error) {
	addr := hop.address()
	keys, err := loadKeyring(hop)
	if err != nil {
		return nil, err
	}
	defer keys.close() // the agent is needed only for the login

	db, err := loadKnownHostsCached(hop.KnownHostsFiles)
	if err != nil {
		return nil, fmt.Errorf("check host key for %s: %w", addr, err)
	}
	checker := &hostKeyChecker{
		host:      hop.Host,
		port:      hop.Port,
		files:     hop.KnownHostsFiles,
		acceptNew: hop.AcceptNewHostKeys,
		db:        db,
	}
	plain, authorities := db.keysOnFile(addr)
	clientConfig := &ssh.ClientConfig{
		User:              hop.User,
		Auth:              keys.authMethods(hop.Password),
		HostKeyCallback:   checker.verify,
		HostKeyAlgorithms: hostKeyAlgorithms(plain, authorities),
	}

	dialCtx, cancel := context.WithTimeout(ctx, hop.ConnectTimeout)
	defer cancel()
	var netConn net.Conn
	if via == nil {
		var dialer net.Dialer
		netConn, err = dialer.DialContext(dialCtx, "tcp", addr)
	} else {
		netConn, err = via.DialContext(dialCtx, "tcp", addr)
	}
	if err != nil {
		return nil, classifyHopError(ctx, dialCtx, err, hop)
	}
	return handshake(ctx, dialCtx, hop, netConn, clientConfig)
}

// handshake runs the SSH handshake and login on netConn until dialCtx
// ends, then gives up. ssh.NewClientConn takes no context, so the end
// of dialCtx closes netConn, which makes the handshake fail. A
// direct-tcpip channel supports no deadlines, so closing is the one way
// that works for every hop.
func handshake(ctx, dialCtx context.Context, hop Config, netConn net.Conn, clientConfig *ssh.ClientConfig) (*ssh.Client, error) {
	stopInterrupt := context.AfterFunc(dialCtx, func() { netConn.Close() })
	sshConn, channels, requests, err := ssh.NewClientConn(netConn, hop.address(), clientConfig)
	interrupted := !stopInterrupt()
	if err == nil && interrupted {
		sshConn.Close()
		err = context.Cause(dialCtx)
	}
	if err != nil {
		netConn.Close()
		return nil, classifyHopError(ctx, dialCtx, err, hop)
	}
	return ssh.NewClient(sshConn, channels, requests), nil
}

// classifyHopError turns a failed connect or handshake into the error
// for the caller: a cancelled ctx, a timeout when dialCtx ran out first,
// or classifyDialError's verdict.
func classifyHopError(ctx, dialCtx context.Context, err error, hop Config) error {
	addr := hop.address()
	if ctxErr := contextError(ctx); ctxErr != nil {
		return fmt.Errorf("connect to %s: %w", addr, ctxErr)
	}
	var hostKeyErr *HostKeyError
	if !errors.As(err, &hostKeyErr) && contextError(dialCtx) != nil {
		return fmt.Errorf("connect to %s: %w: timed out after %v: %w", addr, ErrUnreachable, hop.ConnectTimeout, err)
	}
	return classifyDialError(err, hop.User, addr, hop.ConnectTimeout)
}

// contextError returns ctx.Err(), or context.DeadlineExceeded once the
// deadline of ctx has passed even if its timer has not fired yet.
func contextError(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if deadline, ok := ctx.Deadline(); ok && !time.Now().Before(deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

package sshx

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/regtrust/regtrust/internal/sshtest"
)

// closedPort returns a loopback port on which nothing listens.
func closedPort(t *testing.T) int {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := listener.Addr().(*net.TCPAddr).Port
	listener.Close()
	return port
}

func TestDialThroughJumpHosts(t *testing.T) {
	bastion1 := sshtest.NewServer(t, sshtest.WithForwarding())
	bastion2 := sshtest.NewServer(t, sshtest.WithForwarding())
	target := sshtest.NewServer(t)

	tests := []struct {
		name  string
		jumps []*sshtest.Server
	}{
		{name: "one jump host", jumps: []*sshtest.Server{bastion1}},
		{name: "chained jump hosts", jumps: []*sshtest.Server{bastion1, bastion2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := configFor(target)
			for _, j := range tt.jumps {
				cfg.Jumps = append(cfg.Jumps, configFor(j))
			}
			before := make([]int, len(tt.jumps))
			for i, j := range tt.jumps {
				before[i] = j.Conns()
			}
			targetBefore := target.Conns()

			c := dial(t, cfg)
			got, err := c.Run(context.Background(), "echo through", nil)
			if err != nil || string(got.Stdout) != "through\n" {
				t.Errorf("Run = %q, %v; want \"through\\n\", nil", got.Stdout, err)
			}
			for i, j := range tt.jumps {
				if got := j.Conns() - before[i]; got != 1 {
					t.Errorf("jump host %d got %d connections; want 1", i+1, got)
				}
			}
			if got := target.Conns() - targetBefore; got != 1 {
				t.Errorf("target got %d connections; want 1", got)
			}
			if err := c.Close(); err != nil {
				t.Errorf("Close error = %v; want nil", err)
			}
		})
	}
}

func TestDialJumpHostFailures(t *testing.T) {
	bastion := sshtest.NewServer(t, sshtest.WithForwarding())
	noForwarding := sshtest.NewServer(t)
	changedBastion := sshtest.NewServer(t, sshtest.WithForwarding(), sshtest.WithChangedHostKey())
	target := sshtest.NewServer(t)
	changedTarget := sshtest.NewServer(t, sshtest.WithChangedHostKey())
	downPort := closedPort(t)

	tests := []struct {
		name         string
		jumps        []Config
		target       Config
		wantIs       error
		wantHostKey  string // the address a *HostKeyError must name
		wantContains []string
	}{
		{
			name:         "jump host down",
			jumps:        []Config{{Host: "127.0.0.1", Port: downPort, User: "u", IdentityFiles: []string{bastion.ClientKeyFile}, KnownHostsFiles: []string{bastion.KnownHostsFile}}},
			target:       configFor(target),
			wantIs:       ErrUnreachable,
			wantContains: []string{"through jump host 1 of 1", fmt.Sprintf("127.0.0.1:%d", downPort)},
		},
		{
			name:         "target down behind the jump host",
			jumps:        []Config{configFor(bastion)},
			target:       Config{Host: "127.0.0.1", Port: downPort, User: "u", IdentityFiles: []string{target.ClientKeyFile}, KnownHostsFiles: []string{target.KnownHostsFile}},
			wantIs:       ErrUnreachable,
			wantContains: []string{"through jump host " + bastion.Addr, "the jump host could not connect"},
		},
		{
			name:         "forwarding disabled",
			jumps:        []Config{configFor(noForwarding)},
			target:       configFor(target),
			wantContains: []string{"AllowTcpForwarding"},
		},
		{
			name:         "changed jump host key",
			jumps:        []Config{configFor(changedBastion)},
			target:       configFor(target),
			wantHostKey:  changedBastion.Addr,
			wantContains: []string{"through jump host 1 of 1", "CHANGED"},
		},
		{
			name:         "changed target key behind the jump host",
			jumps:        []Config{configFor(bastion)},
			target:       configFor(changedTarget),
			wantHostKey:  changedTarget.Addr,
			wantContains: []string{"through jump host " + bastion.Addr, "CHANGED"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.target
			cfg.Jumps = tt.jumps
			_, err := Dial(context.Background(), cfg)
			if err == nil {
				t.Fatal("Dial error = nil; want an error")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Dial error = %v; want %v", err, tt.wantIs)
			}
			if tt.wantIs == nil && errors.Is(err, ErrUnreachable) {
				t.Errorf("Dial error = %v; want it not to match ErrUnreachable", err)
			}
			var keyErr *HostKeyError
			if tt.wantHostKey != "" {
				if !errors.As(err, &keyErr) {
					t.Errorf("Dial error = %v; want a *HostKeyError", err)
				} else if got := net.JoinHostPort(keyErr.Host, fmt.Sprint(keyErr.Port)); got != tt.wantHostKey {
					t.Errorf("HostKeyError for %s; want %s", got, tt.wantHostKey)
				}
			}
			for _, want := range tt.wantContains {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error = %q; want it to contain %q", err, want)
				}
			}
		})
	}
}

func TestDialInvalidJumps(t *testing.T) {
	srv := sshtest.NewServer(t)
	nested := configFor(srv)
	nested.Jumps = []Config{configFor(srv)}
	tooMany := make([]Config, MaxJumps+1)
	for i := range tooMany {
		tooMany[i] = configFor(srv)
	}
	noUser := configFor(srv)
	noUser.User = ""

	tests := []struct {
		name  string
		jumps []Config
		want  string
	}{
		{name: "nested jump hosts", jumps: []Config{nested}, want: "has jump hosts of its own"},
		{name: "too many", jumps: tooMany, want: fmt.Sprintf("more than %d", MaxJumps)},
		{name: "jump host without user", jumps: []Config{noUser}, want: "jump host 1 of 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := configFor(srv)
			cfg.Jumps = tt.jumps
			before := srv.Conns()
			_, err := Dial(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Dial error = %v; want one containing %q", err, tt.want)
			}
			if got := srv.Conns() - before; got != 0 {
				t.Errorf("server got %d connections; want 0 for an invalid config", got)
			}
		})
	}
}

func TestDialRetries(t *testing.T) {
	strangerKey, _ := sshtest.NewKey(t)
	tests := []struct {
		name      string
		server    []sshtest.Option
		retries   int
		identity  func(srv *sshtest.Server) string
		wantConns int
		wantErr   error // nil for a successful Dial
	}{
		{name: "succeeds on the last try", server: []sshtest.Option{sshtest.DropFirstConns(2)}, retries: 2, wantConns: 3},
		{name: "gives up after the retries", server: []sshtest.Option{sshtest.DropFirstConns(5)}, retries: 2, wantConns: 3, wantErr: ErrUnreachable},
		{name: "no retries by default", server: []sshtest.Option{sshtest.DropFirstConns(1)}, retries: 0, wantConns: 1, wantErr: ErrUnreachable},
		{
			name:      "authentication failure is not retried",
			retries:   2,
			identity:  func(*sshtest.Server) string { return sshtest.WriteKeyFile(t, strangerKey, "") },
			wantConns: 1,
			wantErr:   ErrAuthFailed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SSH_AUTH_SOCK", "")
			srv := sshtest.NewServer(t, tt.server...)
			cfg := configFor(srv)
			cfg.ConnectRetries = tt.retries
			cfg.RetryDelay = time.Millisecond
			if tt.identity != nil {
				cfg.IdentityFiles = []string{tt.identity(srv)}
			}
			c, err := Dial(context.Background(), cfg)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("Dial error = %v; want nil", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Dial error = %v; want %v", err, tt.wantErr)
			}
			if c != nil {
				c.Close()
			}
			if got := srv.Conns(); got != tt.wantConns {
				t.Errorf("server connections = %d; want %d", got, tt.wantConns)
			}
			if tt.wantErr == ErrUnreachable && tt.retries > 0 && !strings.Contains(err.Error(), fmt.Sprintf("after %d attempts", tt.retries+1)) {
				t.Errorf("error = %q; want it to say how many attempts were made", err)
			}
		})
	}

	t.Run("host key failure is not retried", func(t *testing.T) {
		srv := sshtest.NewServer(t, sshtest.WithChangedHostKey())
		cfg := configFor(srv)
		cfg.ConnectRetries = 2
		cfg.RetryDelay = time.Millisecond
		var keyErr *HostKeyError
		if _, err := Dial(context.Background(), cfg); !errors.As(err, &keyErr) {
			t.Fatalf("Dial error = %v; want a *HostKeyError", err)
		}
		if got := srv.Conns(); got != 1 {
			t.Errorf("server connections = %d; want 1", got)
		}
	})

	t.Run("cancel during the wait", func(t *testing.T) {
		srv := sshtest.NewServer(t, sshtest.DropFirstConns(5))
		cfg := configFor(srv)
		cfg.ConnectRetries = 2
		cfg.RetryDelay = time.Hour
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			for srv.Conns() == 0 {
				time.Sleep(time.Millisecond)
			}
			cancel()
		}()
		_, err := Dial(ctx, cfg)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Dial error = %v; want context.Canceled", err)
		}
	})
}

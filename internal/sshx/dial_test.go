package sshx

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/regtrust/regtrust/internal/sshtest"
)

func TestDialAuthFailure(t *testing.T) {
	srv := sshtest.NewServer(t)
	strangerKey, _ := sshtest.NewKey(t)
	strangerFile := sshtest.WriteKeyFile(t, strangerKey, "")

	tests := []struct {
		name     string
		user     string
		identity string
	}{
		{name: "unknown key", user: srv.User, identity: strangerFile},
		{name: "wrong user", user: "mallory", identity: srv.ClientKeyFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := configFor(srv)
			cfg.User = tt.user
			cfg.IdentityFiles = []string{tt.identity}

			_, err := Dial(context.Background(), cfg)
			if !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("Dial error = %v; want ErrAuthFailed", err)
			}
			if errors.Is(err, ErrUnreachable) {
				t.Errorf("Dial error = %v; want it not to match ErrUnreachable", err)
			}
			if want := tt.user + "@" + srv.Addr; !strings.Contains(err.Error(), want) {
				t.Errorf("error = %q; want it to name %s", err, want)
			}
		})
	}
}

func TestDialUnreachable(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := listener.Addr().(*net.TCPAddr)
	listener.Close()
	hanging := sshtest.NewServer(t, sshtest.HangBeforeHandshake())

	tests := []struct {
		name    string
		cfg     Config
		wantMsg string
	}{
		{
			name:    "closed port",
			cfg:     Config{Host: "127.0.0.1", Port: closedAddr.Port},
			wantMsg: "connection refused",
		},
		{
			name:    "no handshake before the timeout",
			cfg:     Config{Host: hanging.Host, Port: hanging.Port, ConnectTimeout: 100 * time.Millisecond},
			wantMsg: "timed out after 100ms",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			cfg.User = hanging.User
			cfg.IdentityFiles = []string{hanging.ClientKeyFile}
			cfg.KnownHostsFiles = []string{hanging.KnownHostsFile}

			_, err := Dial(context.Background(), cfg)
			if !errors.Is(err, ErrUnreachable) {
				t.Fatalf("Dial error = %v; want ErrUnreachable", err)
			}
			addr := fmt.Sprintf("127.0.0.1:%d", cfg.Port)
			if !strings.Contains(err.Error(), addr) {
				t.Errorf("error = %q; want it to name %s", err, addr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error = %q; want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestDialCancelled(t *testing.T) {
	hanging := sshtest.NewServer(t, sshtest.HangBeforeHandshake())
	cfg := configFor(hanging)

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	// The deadline ends the context while the handshake stalls, long
	// before the default connect timeout of 15s.
	expiring, cancelExpiring := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancelExpiring()

	tests := []struct {
		name string
		ctx  context.Context
		want error
	}{
		{name: "cancelled before dial", ctx: cancelled, want: context.Canceled},
		{name: "deadline during handshake", ctx: expiring, want: context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Dial(tt.ctx, cfg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Dial error = %v; want %v", err, tt.want)
			}
			if errors.Is(err, ErrUnreachable) {
				t.Errorf("Dial error = %v; want a cancel not to count as ErrUnreachable", err)
			}
		})
	}
}

func TestDialIdentityErrors(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	srv := sshtest.NewServer(t)
	key, _ := sshtest.NewKey(t)
	encrypted := sshtest.WriteKeyFile(t, key, "correct horse")
	garbage := filepath.Join(t.TempDir(), "id_garbage")
	writeFile(t, garbage, "not a key\n")
	missing := filepath.Join(t.TempDir(), "id_missing")

	tests := []struct {
		name       string
		identities []string
		useAgent   bool
		want       []string
	}{
		{name: "encrypted key", identities: []string{encrypted}, want: []string{encrypted, "encrypted", "ssh-add " + encrypted}},
		{name: "missing file", identities: []string{missing}, want: []string{"read identity file", missing}},
		{name: "not a key", identities: []string{garbage}, want: []string{"parse identity file " + garbage}},
		{name: "no key at all", want: []string{"no identity file given"}},
		{name: "agent without socket", useAgent: true, want: []string{"SSH_AUTH_SOCK is not set"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := configFor(srv)
			cfg.IdentityFiles = tt.identities
			cfg.UseAgent = tt.useAgent

			_, err := Dial(context.Background(), cfg)
			if err == nil {
				t.Fatal("Dial error = nil; want an identity error")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error = %q; want it to contain %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "correct horse") {
				t.Errorf("error = %q; want no passphrase in it", err)
			}
		})
	}
	if got := srv.Conns(); got != 0 {
		t.Errorf("server connections = %d; want 0, because key errors come before the connect", got)
	}
}

// startAgent serves an in-memory ssh-agent holding keys on a socket in a
// temporary folder and points SSH_AUTH_SOCK at it.
func startAgent(t *testing.T, keys ...any) {
	t.Helper()
	keyring := agent.NewKeyring()
	for _, key := range keys {
		if err := keyring.Add(agent.AddedKey{PrivateKey: key}); err != nil {
			t.Fatalf("add key to test agent: %v", err)
		}
	}
	socket := filepath.Join(t.TempDir(), "agent.sock")
	listener, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatalf("listen for test agent: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			agent.ServeAgent(keyring, conn)
			conn.Close()
		}
	}()
	t.Cleanup(func() {
		listener.Close()
		<-done
	})
	t.Setenv("SSH_AUTH_SOCK", socket)
}

func TestDialWithAgent(t *testing.T) {
	agentKey, agentSigner := sshtest.NewKey(t)
	srv := sshtest.NewServer(t, sshtest.WithAuthorizedKeys(agentSigner.PublicKey()))
	startAgent(t, agentKey)
	strangerKey, _ := sshtest.NewKey(t)

	tests := []struct {
		name       string
		identities []string
	}{
		{name: "agent only"},
		{name: "encrypted file whose key the agent holds", identities: []string{sshtest.WriteKeyFile(t, agentKey, "secret")}},
		{name: "rejected file key, then agent key", identities: []string{sshtest.WriteKeyFile(t, strangerKey, "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := configFor(srv)
			cfg.IdentityFiles = tt.identities
			cfg.UseAgent = true
			c := dial(t, cfg)
			got, err := c.Run(context.Background(), "echo ok", nil)
			if err != nil || string(got.Stdout) != "ok\n" {
				t.Errorf("Run = %q, %v; want \"ok\\n\", nil", got.Stdout, err)
			}
		})
	}

	// An encrypted file whose key the agent lacks is still an error.
	cfg := configFor(srv)
	cfg.IdentityFiles = []string{sshtest.WriteKeyFile(t, strangerKey, "secret")}
	cfg.UseAgent = true
	if _, err := Dial(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "encrypted") {
		t.Errorf("Dial with an encrypted key missing from the agent error = %v; want one saying the key is encrypted", err)
	}
}

func TestLoadIdentityFileWithCertificate(t *testing.T) {
	_, ca := sshtest.NewKey(t)
	userKey, userSigner := sshtest.NewKey(t)
	keyFile := sshtest.WriteKeyFile(t, userKey, "")
	cert := &ssh.Certificate{
		Key:             userSigner.PublicKey(),
		CertType:        ssh.UserCert,
		KeyId:           "test user",
		ValidPrincipals: []string{"tester"},
		ValidBefore:     ssh.CertTimeInfinity,
	}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatalf("sign user certificate: %v", err)
	}
	writeFile(t, keyFile+"-cert.pub", string(ssh.MarshalAuthorizedKey(cert)))

	signers, err := NewKeys(nil).signers(keyFile, nil)
	if err != nil {
		t.Fatalf("signers error = %v; want nil", err)
	}
	if len(signers) != 2 {
		t.Fatalf("signers returned %d signers; want the certificate and the key", len(signers))
	}
	if _, ok := signers[0].PublicKey().(*ssh.Certificate); !ok {
		t.Errorf("first signer offers %s; want the certificate first", signers[0].PublicKey().Type())
	}
}

func TestDialInvalidConfig(t *testing.T) {
	valid := Config{Host: "127.0.0.1", User: "u", KnownHostsFiles: []string{"k"}, IdentityFiles: []string{"i"}}
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{name: "missing host", change: func(c *Config) { c.Host = "" }, want: "missing host"},
		{name: "host with space", change: func(c *Config) { c.Host = "a b" }, want: "invalid host"},
		{name: "wildcard host", change: func(c *Config) { c.Host = "*.example.com" }, want: "invalid host"},
		{name: "port too large", change: func(c *Config) { c.Port = 70000 }, want: "invalid port 70000"},
		{name: "missing user", change: func(c *Config) { c.User = "" }, want: "missing user"},
		{name: "no known_hosts", change: func(c *Config) { c.KnownHostsFiles = nil }, want: "missing known_hosts"},
		{name: "empty known_hosts path", change: func(c *Config) { c.KnownHostsFiles = []string{""} }, want: "empty path"},
		{name: "negative timeout", change: func(c *Config) { c.ConnectTimeout = -time.Second }, want: "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)
			_, err := Dial(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Dial error = %v; want one containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	tests := []struct {
		name     string
		host     string
		port     int
		wantAddr string
	}{
		{name: "default port", host: "example.com", wantAddr: "example.com:22"},
		{name: "ipv6", host: "::1", port: 2222, wantAddr: "[::1]:2222"},
		{name: "ipv6 in brackets", host: "[::1]", wantAddr: "[::1]:22"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Config{Host: tt.host, Port: tt.port, User: "u", KnownHostsFiles: []string{"k"}}.withDefaults()
			if err != nil {
				t.Fatalf("withDefaults error = %v; want nil", err)
			}
			if got := cfg.address(); got != tt.wantAddr {
				t.Errorf("address = %s; want %s", got, tt.wantAddr)
			}
			if cfg.ConnectTimeout != DefaultConnectTimeout {
				t.Errorf("ConnectTimeout = %v; want %v", cfg.ConnectTimeout, DefaultConnectTimeout)
			}
			if cfg.KeepAlive != DefaultKeepAlive {
				t.Errorf("KeepAlive = %v; want %v", cfg.KeepAlive, DefaultKeepAlive)
			}
		})
	}
}

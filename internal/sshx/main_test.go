package sshx

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/regtrust/regtrust/internal/sshtest"
)

// TestMain fails the package when any test leaves a goroutine behind,
// such as a keepalive loop or a session that outlived its Client.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// configFor returns a Config that logs in to srv with its client key and
// checks its host key against its known_hosts file.
func configFor(srv *sshtest.Server) Config {
	return Config{
		Host:            srv.Host,
		Port:            srv.Port,
		User:            srv.User,
		IdentityFiles:   []string{srv.ClientKeyFile},
		KnownHostsFiles: []string{srv.KnownHostsFile},
	}
}

// dial connects with cfg and closes the client when the test ends.
func dial(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Dial(%s:%d) = %v; want a client", cfg.Host, cfg.Port, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

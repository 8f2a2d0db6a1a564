package sshx

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/regtrust/regtrust/internal/sshtest"
)

func TestCloseEndsKeepAlive(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
	}{
		{name: "idle between requests", interval: 0},
		// Requests are in flight when Close comes. The watchdog may
		// also fire under load; either way the goroutine must end.
		{name: "request in flight", interval: time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := sshtest.NewServer(t)
			before := goleak.IgnoreCurrent()
			cfg := configFor(srv)
			cfg.KeepAlive = tt.interval

			c, err := Dial(context.Background(), cfg)
			if err != nil {
				t.Fatalf("Dial error = %v; want nil", err)
			}
			if err := c.Close(); err != nil {
				t.Errorf("Close error = %v; want nil", err)
			}
			select {
			case <-c.keepAliveDone:
			default:
				t.Errorf("keepalive goroutine still running after Close")
			}
			if err := c.Close(); err != nil {
				t.Errorf("second Close error = %v; want nil", err)
			}
			// goleak retries while the goroutines of the closed
			// connection end.
			goleak.VerifyNone(t, before)
		})
	}
}

func TestKeepAliveClosesDeadConnection(t *testing.T) {
	srv := sshtest.NewServer(t, sshtest.HangAfterHandshake())
	cfg := configFor(srv)
	cfg.KeepAlive = 10 * time.Millisecond
	c := dial(t, cfg)

	// The server replies to neither the session open nor the keepalives,
	// so only the keepalive watchdog can end this Run.
	_, err := c.Run(context.Background(), "true", nil)
	if err == nil || !strings.Contains(err.Error(), "no keepalive reply within 30ms") {
		t.Fatalf("Run on a dead connection error = %v; want one about the missing keepalive reply", err)
	}
	<-c.keepAliveDone
}

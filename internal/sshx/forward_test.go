package sshx

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/regtrust/regtrust/internal/sshtest"
)

// echoServer accepts connections on 127.0.0.1 and answers each line with
// "echo: LINE" until the test ends.
func echoServer(t *testing.T) *net.TCPAddr {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listener.Close() })
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				sc := bufio.NewScanner(conn)
				for sc.Scan() {
					if _, err := conn.Write([]byte("echo: " + sc.Text() + "\n")); err != nil {
						return
					}
				}
			}()
		}
	}()
	return listener.Addr().(*net.TCPAddr)
}

func TestClientDial(t *testing.T) {
	echo := echoServer(t)
	srv := sshtest.NewServer(t, sshtest.WithForwardHosts(map[string]string{"only-on-host.test": "127.0.0.1"}))
	c := dial(t, configFor(srv))

	tests := []struct {
		name    string
		network string
		addr    string
		wantErr string
	}{
		{name: "loopback address", network: "tcp", addr: echo.String()},
		{name: "name only the host resolves", network: "tcp", addr: net.JoinHostPort("only-on-host.test", strconv.Itoa(echo.Port))},
		{name: "udp rejected", network: "udp", addr: echo.String(), wantErr: `network "udp" is not supported`},
		{name: "server refuses target", network: "tcp", addr: "192.0.2.1:443", wantErr: "dial 192.0.2.1:443 on " + srv.Addr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.Forwards()
			conn, err := c.Dial(context.Background(), tt.network, tt.addr)
			if tt.wantErr != "" {
				if err == nil {
					conn.Close()
					t.Fatalf("Dial(%s, %s) succeeded; want an error containing %q", tt.network, tt.addr, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Dial error = %q; want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial(%s, %s): %v", tt.network, tt.addr, err)
			}
			defer conn.Close()
			if _, err := conn.Write([]byte("ping\n")); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(conn).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if line != "echo: ping\n" {
				t.Errorf("reply = %q; want %q", line, "echo: ping\n")
			}
			if got := srv.Forwards() - before; got != 1 {
				t.Errorf("server forwards = %d; want 1 direct-tcpip channel", got)
			}
		})
	}
}

func TestClientDialCancelled(t *testing.T) {
	srv := sshtest.NewServer(t)
	c := dial(t, configFor(srv))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Dial(ctx, "tcp", "127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), context.Canceled.Error()) {
		t.Errorf("Dial with a cancelled context: error = %v; want it to wrap %v", err, context.Canceled)
	}
}

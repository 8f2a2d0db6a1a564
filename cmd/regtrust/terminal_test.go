package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns both ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("get pseudo-terminal number: %v", err)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pseudo-terminal: %v", err)
	}
	return master, slave
}

// runOnTerminal runs the command with stdout and stderr on a
// pseudo-terminal and returns what the terminal received.
func runOnTerminal(t *testing.T, args ...string) (int, string) {
	t.Helper()
	master, slave := openPTY(t)
	defer master.Close()
	var screen bytes.Buffer
	read := make(chan struct{})
	go func() {
		io.Copy(&screen, master) // ends with EIO once the slave is closed
		close(read)
	}()
	code := run(context.Background(), nil, args, slave, slave)
	slave.Close()
	<-read
	return code, screen.String()
}

func TestTerminalProgressAndColor(t *testing.T) {
	pb, inv, known, _ := setup(t)
	tests := []struct {
		name      string
		noColor   string
		wantColor bool
	}{
		{"color", "", true},
		{"no-color", "1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", tt.noColor)
			t.Setenv("TERM", "xterm")
			code, screen := runOnTerminal(t, "run", pb, "-i", inv, "--known-hosts", known, "--check")
			if code != 0 {
				t.Fatalf("exit %d\n%q", code, screen)
			}
			if !strings.Contains(screen, "\r\x1b[Kregtrust: 1/1 hosts done (1 changed)") {
				t.Errorf("terminal lacks the progress line rewritten in place:\n%q", screen)
			}
			if strings.Contains(screen, "progress: ") {
				t.Errorf("terminal shows plain progress lines:\n%q", screen)
			}
			colored := strings.Contains(screen, "\x1b[33mchanged\x1b[0m")
			if colored != tt.wantColor {
				t.Errorf("coloured status = %v; want %v (NO_COLOR=%q)\n%q", colored, tt.wantColor, tt.noColor, screen)
			}
		})
	}
}

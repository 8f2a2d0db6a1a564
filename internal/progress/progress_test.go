package progress

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestTerminalLineRewrites(t *testing.T) {
	var b strings.Builder
	l := New(&b, true)
	l.Update(1, 3, "1 changed")
	l.Update(2, 3, "")
	l.Clear()
	l.Clear()
	want := "\r\x1b[Kregtrust: 1/3 hosts done (1 changed)" +
		"\r\x1b[Kregtrust: 2/3 hosts done" +
		"\r\x1b[K"
	if got := b.String(); got != want {
		t.Errorf("output = %q; want %q", got, want)
	}
	if strings.Contains(b.String(), "\n") {
		t.Errorf("terminal output %q contains a newline; want the line rewritten in place", b.String())
	}
}

func TestPlainLines(t *testing.T) {
	tests := []struct {
		name  string
		total int
		want  []string
	}{
		{"short-run-silent", 9, nil},
		{"ten-hosts", 10, []string{"1/10", "2/10", "3/10", "4/10", "5/10", "6/10", "7/10", "8/10", "9/10", "10/10"}},
		{"forty-hosts", 40, []string{"4/40", "8/40", "12/40", "16/40", "20/40", "24/40", "28/40", "32/40", "36/40", "40/40"}},
		{"fifteen-hosts", 15, []string{"2/15", "3/15", "5/15", "6/15", "8/15", "9/15", "11/15", "12/15", "14/15", "15/15"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			l := New(&b, false)
			for done := 1; done <= tt.total; done++ {
				l.Clear()
				l.Update(done, tt.total, "0 changed")
			}
			var got []string
			for _, line := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n") {
				if line == "" {
					continue
				}
				fields := strings.Fields(line)
				if fields[0] != "progress:" {
					t.Errorf("line %q does not start with progress:", line)
				}
				got = append(got, fields[1])
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("lines at %v; want at %v", got, tt.want)
			}
			if strings.Contains(b.String(), "\x1b") || strings.Contains(b.String(), "\r") {
				t.Errorf("plain output %q contains terminal control characters", b.String())
			}
		})
	}
}

// TestIsTerminal checks the detection on a real pseudo-terminal and on a
// pipe.
func TestIsTerminal(t *testing.T) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("get pseudo-terminal number: %v", err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pseudo-terminal: %v", err)
	}
	defer pts.Close()
	if !IsTerminal(pts) {
		t.Errorf("IsTerminal(%s) = false; want true", pts.Name())
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if IsTerminal(w) {
		t.Errorf("IsTerminal(pipe) = true; want false")
	}
}

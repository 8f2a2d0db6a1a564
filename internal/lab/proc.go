package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// run runs a program and returns its standard output. The error names
// the command and carries its standard error.
func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("run %s: %w: %s", commandLine(name, args), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// commandLine renders a command for error messages.
func commandLine(name string, args []string) string {
	return strings.Join(append([]string{name}, args...), " ")
}

// processGone reports whether pid no longer names a live process. A
// zombie counts as gone because it runs no code and holds no mounts.
func processGone(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state letter follows the command name, which is in
	// parentheses and may itself contain ") ".
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	return stat[i+2] == 'Z'
}

// waitGone polls until pid is gone or the timeout passes.
func waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// mountNamespace is a held reference to a mount namespace. Holding the
// file open keeps the namespace, and so its identity, alive: the kernel
// cannot reuse its inode for another namespace until Close.
type mountNamespace struct {
	file *os.File
	dev  uint64
	ino  uint64
}

func openMountNamespace(pid int) (*mountNamespace, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/ns/mnt"
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open mount namespace of pid %d: %w", pid, err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	return &mountNamespace{file: f, dev: uint64(st.Dev), ino: st.Ino}, nil
}

// pids lists the processes that live in the namespace now.
func (ns *mountNamespace) pids() []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+e.Name()+"/ns/mnt", &st) != nil {
			continue
		}
		if uint64(st.Dev) == ns.dev && st.Ino == ns.ino {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killAll sends SIGKILL to every process in the namespace, repeating
// until none is left, because a dying shell can fork once more. It
// gives up after timeout.
func (ns *mountNamespace) killAll(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var alive []int
		for _, pid := range ns.pids() {
			if processGone(pid) {
				continue
			}
			alive = append(alive, pid)
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("kill pid %d: %w", pid, err)
			}
		}
		if len(alive) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kill processes in mount namespace: pids %v still alive after %v", alive, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// hostPID translates a pid as a host numbers it, inside its PID
// namespace, to the pid the machine uses for the same process. The
// NSpid line of /proc/PID/status lists a process's pid in each nested
// PID namespace, outermost first.
func (ns *mountNamespace) hostPID(nsPID int) (int, error) {
	want := strconv.Itoa(nsPID)
	for _, pid := range ns.pids() {
		status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			fields := strings.Fields(line)
			if len(fields) > 2 && fields[0] == "NSpid:" && fields[len(fields)-1] == want {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("find process %d of the host's PID namespace: not running", nsPID)
}

func (ns *mountNamespace) Close() error {
	return ns.file.Close()
}

// tail returns the last n lines of a log file for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// claimDir holds one owner file per lab network, named after its
// namespace. It lives on /run, a tmpfs, so it vanishes on reboot
// together with the namespaces it describes.
const claimDir = "/run/regtrust-lab"

// owner identifies the process that created a lab network and the lab
// folder it used. The start time distinguishes a live owner from a new
// process that reuses its pid.
type owner struct {
	pid   int
	start string // field 22 of /proc/PID/stat, in clock ticks since boot
	dir   string
}

func (o owner) String() string {
	return fmt.Sprintf("%d %s\n%s\n", o.pid, o.start, o.dir)
}

func parseOwner(b []byte) (owner, error) {
	lines := strings.SplitN(strings.TrimRight(string(b), "\n"), "\n", 2)
	fields := strings.Fields(lines[0])
	if len(lines) != 2 || len(fields) != 2 {
		return owner{}, fmt.Errorf("parse owner file: want \"PID START\\nDIR\", got %q", b)
	}
	pid, err := strconv.Atoi(fields[0])
	if err != nil {
		return owner{}, fmt.Errorf("parse owner pid %q: %w", fields[0], err)
	}
	return owner{pid: pid, start: fields[1], dir: lines[1]}, nil
}

// processStart returns the start time field of /proc/PID/stat.
func processStart(pid int) (string, error) {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", err
	}
	// Fields after the parenthesised command name start at field 3.
	i := strings.LastIndexByte(string(stat), ')')
	fields := strings.Fields(string(stat[i+1:]))
	if i < 0 || len(fields) < 20 {
		return "", fmt.Errorf("parse /proc/%d/stat: too few fields", pid)
	}
	return fields[19], nil
}

func (o owner) alive() bool {
	start, err := processStart(o.pid)
	return err == nil && start == o.start && !processGone(o.pid)
}

func currentOwner(dir string) (owner, error) {
	pid := os.Getpid()
	start, err := processStart(pid)
	if err != nil {
		return owner{}, fmt.Errorf("read own start time: %w", err)
	}
	return owner{pid: pid, start: start, dir: dir}, nil
}

// lockClaims takes an exclusive lock that serializes sweeping and
// claiming across labs on this machine, so one lab never removes a
// network that another lab has just claimed.
func lockClaims() (unlock func(), err error) {
	if err := os.MkdirAll(claimDir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", claimDir, err)
	}
	f, err := os.OpenFile(filepath.Join(claimDir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open claim lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}

// sweepStale removes the networks and folders of labs whose process
// died without Close. The lab's hosts and registry died with it, but
// the namespace, veth, route and lab folder stay until removed here.
// Networks without an owner file are left alone. The caller must hold
// the claim lock.
func sweepStale(ctx context.Context, log *slog.Logger) {
	files, err := filepath.Glob(filepath.Join(claimDir, "*.owner"))
	if err != nil {
		return
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		o, err := parseOwner(b)
		if err != nil {
			log.Warn("skip unreadable lab owner file", "file", file, "err", err)
			continue
		}
		if o.alive() {
			continue
		}
		netns := strings.TrimSuffix(filepath.Base(file), ".owner")
		n := &network{netns: netns, veth: netns}
		errs := []error{n.remove(ctx)}
		// Only a folder that Start created, never an arbitrary path.
		if filepath.IsAbs(o.dir) && strings.HasPrefix(filepath.Base(o.dir), labDirPrefix) {
			errs = append(errs, os.RemoveAll(o.dir))
		}
		errs = append(errs, os.Remove(file))
		log.Info("removed stale lab", "netns", netns, "dir", o.dir, "owner_pid", o.pid, "err", errors.Join(errs...))
	}
}

func (n *network) ownerFile() string {
	return filepath.Join(claimDir, n.netns+".owner")
}

func (n *network) writeOwner(dir string) error {
	o, err := currentOwner(dir)
	if err != nil {
		return err
	}
	if err := os.WriteFile(n.ownerFile(), []byte(o.String()), 0o600); err != nil {
		return fmt.Errorf("write lab owner file: %w", err)
	}
	return nil
}

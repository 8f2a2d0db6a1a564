package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// RestartsLog is the file inside a host to which the restart script
// appends one line per call.
const RestartsLog = "/var/lib/docker/lab-restarts.log"

// DockerdLog is the file inside a host that receives dockerd's output.
const DockerdLog = "/var/lib/docker/dockerd.log"

// FlagsFile is the file inside a host whose words the restart script
// passes to dockerd as extra command-line flags at every start, as an
// init script passes DOCKER_OPTS. SetDockerdFlags writes it.
const FlagsFile = "/etc/docker/lab-dockerd-flags"

// restartScript replaces the init script that restarts dockerd on a
// real host, because lab machines run no systemd. It runs inside a host's
// mount namespace, where /run, /etc/docker and /var/lib/docker are the
// host's own, so it touches only that host's dockerd.
//
//	restart   stop dockerd if it runs, start a new one, log one line
//	start     start dockerd unless it runs; used when the lab starts
//	stop      stop dockerd; used when the lab closes
//	log-only  only log one line; for hosts that run no dockerd
//
// dockerd starts with a clean environment, detached with setsid, with
// its output in /var/lib/docker/dockerd.log, as an init system would,
// and with the words of /etc/docker/lab-dockerd-flags as extra flags.
// A start fails at once, with the end of dockerd's log, when dockerd
// exits instead of answering.
const restartScript = `#!/bin/sh
# Restarts this lab host's dockerd. Usage: restart-dockerd [restart|start|stop|log-only]
set -eu
mode=${1:-restart}
pidfile=/run/docker.pid
log=/var/lib/docker/lab-restarts.log
path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

# alive PID: true while PID runs and is no zombie.
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	state=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$state" != Z ]
}

running_pid() {
	[ -s "$pidfile" ] || return 1
	pid=$(cat "$pidfile")
	alive "$pid" || return 1
	echo "$pid"
}

stop() {
	pid=$(running_pid) || return 0
	kill -TERM "$pid"
	i=0
	while alive "$pid"; do
		i=$((i + 1))
		if [ "$i" -gt 300 ]; then
			echo "restart-dockerd: dockerd pid $pid still running 30s after SIGTERM" >&2
			return 1
		fi
		sleep 0.1
	done
}

start() {
	if running_pid >/dev/null; then
		return 0
	fi
	flags=
	if [ -r /etc/docker/lab-dockerd-flags ]; then flags=$(cat /etc/docker/lab-dockerd-flags); fi
	# fd 9 holds the lock below; dockerd must not inherit it. setsid
	# runs in the background job's process group, which it does not
	# lead, so it makes the new session itself and $! is dockerd.
	# shellcheck disable=SC2086 # the flags are words on purpose
	env -i PATH="$path" HOME=/root setsid dockerd $flags </dev/null >>/var/lib/docker/dockerd.log 2>&1 9>&- &
	started=$!
	i=0
	until env -i PATH="$path" HOME=/root docker info >/dev/null 2>&1; do
		i=$((i + 1))
		if ! alive "$started"; then
			echo "restart-dockerd: dockerd exited during its start; end of /var/lib/docker/dockerd.log:" >&2
			tail -n 20 /var/lib/docker/dockerd.log >&2
			return 1
		fi
		if [ "$i" -gt 600 ]; then
			echo "restart-dockerd: dockerd did not respond within 60s; end of /var/lib/docker/dockerd.log:" >&2
			tail -n 20 /var/lib/docker/dockerd.log >&2
			return 1
		fi
		sleep 0.1
	done
}

record() {
	echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $*" >>"$log"
}

# One call at a time per host.
exec 9>/run/lab-restart-dockerd.lock
flock 9

case "$mode" in
restart)
	old=$(running_pid) || old=none
	if stop && start; then
		record "restarted dockerd: old pid $old, new pid $(cat "$pidfile")"
	else
		record "restart of dockerd failed: old pid $old"
		exit 1
	fi
	;;
start) start ;;
stop) stop ;;
log-only) record "restart requested; this lab host runs no dockerd" ;;
*)
	echo "restart-dockerd: unknown mode $mode; want restart, start, stop or log-only" >&2
	exit 2
	;;
esac
`

// writeRestartScript writes the script into the lab folder, which all
// hosts see at the same path.
func writeRestartScript(dir string) (string, error) {
	path := filepath.Join(dir, "restart-dockerd")
	if err := os.WriteFile(path, []byte(restartScript), 0o755); err != nil {
		return "", fmt.Errorf("write restart script: %w", err)
	}
	return path, nil
}

// detectStorageDriver returns "overlay2" when an overlay mount works on
// the file system under dir, else "vfs", which works everywhere but
// copies every layer in full. The test mount lives in a throwaway mount
// namespace, so it vanishes with the unshare process.
func detectStorageDriver(ctx context.Context, dir string) (string, error) {
	base := filepath.Join(dir, "overlay-check")
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.MkdirAll(filepath.Join(base, d), 0o755); err != nil {
			return "", fmt.Errorf("create overlay check folder: %w", err)
		}
	}
	defer os.RemoveAll(base)
	opts := fmt.Sprintf("lowerdir=%s/lower,upperdir=%s/upper,workdir=%s/work", base, base, base)
	_, err := run(ctx, "unshare", "-m", "--propagation", "private",
		"mount", "-t", "overlay", "overlay", "-o", opts, filepath.Join(base, "merged"))
	if err != nil {
		return "vfs", nil
	}
	return "overlay2", nil
}

// baseDaemonJSON returns the settings every lab dockerd gets. They keep
// dockerd off the machine's network setup: no docker0 bridge, no
// iptables rules, no change to the machine's ip_forward or NAT.
func baseDaemonJSON(storageDriver string) map[string]any {
	return map[string]any{
		"bridge":         "none",
		"iptables":       false,
		"ip-forward":     false,
		"ip-masq":        false,
		"storage-driver": storageDriver,
	}
}

func writeDaemonJSON(path string, settings map[string]any) error {
	b, err := json.MarshalIndent(settings, "", "  ")
	if err != nil {
		return fmt.Errorf("encode daemon.json: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write daemon.json: %w", err)
	}
	return nil
}

// dockerdStartTimeout bounds the first start of a lab dockerd. The
// script itself gives up after 60 s; this covers the rest.
const dockerdStartTimeout = 90 * time.Second

// startDockerd starts the host's dockerd through the restart script,
// so the first start and every restart take the same path.
func (l *Lab) startDockerd(ctx context.Context, h *Host) error {
	ctx, cancel := context.WithTimeout(ctx, dockerdStartTimeout)
	defer cancel()
	if out, err := l.Exec(ctx, h.Name, l.RestartScript, "start"); err != nil {
		return fmt.Errorf("start dockerd on %s: %w\n%s", h.Name, err, out)
	}
	return nil
}

// SetDockerdFlags writes the extra flags that the host's dockerd gets
// from its next start on; no flags removes the file. The running dockerd
// keeps its command line until it restarts.
func (l *Lab) SetDockerdFlags(host string, flags ...string) error {
	if len(flags) == 0 {
		if _, err := l.Exec(context.Background(), host, "rm", "-f", FlagsFile); err != nil {
			return fmt.Errorf("remove dockerd flags of %s: %w", host, err)
		}
		return nil
	}
	return l.WriteFile(host, FlagsFile, []byte(strings.Join(flags, "\n")+"\n"), 0o644)
}

// parseRestarts counts the lines of a restarts log.
func parseRestarts(b []byte) int {
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) != "" {
			n++
		}
	}
	return n
}

// DockerdPID returns the machine's pid of the host's running dockerd.
// The host's /run/docker.pid holds the pid inside the host's PID
// namespace, which DockerdPID translates.
func (l *Lab) DockerdPID(host string) (int, error) {
	h, err := l.running(host)
	if err != nil {
		return 0, err
	}
	b, err := l.ReadFile(host, "/run/docker.pid")
	if err != nil {
		return 0, fmt.Errorf("read dockerd pid: %w", err)
	}
	nsPID, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("parse /run/docker.pid on %s: %w", host, err)
	}
	pid, err := h.ns.hostPID(nsPID)
	if err != nil || processGone(pid) {
		return 0, fmt.Errorf("read dockerd pid on %s: pid %d from /run/docker.pid is not running", host, nsPID)
	}
	return pid, nil
}

// Restarts returns how many times the restart script ran on the host
// in restart or log-only mode. A missing log means none.
func (l *Lab) Restarts(host string) (int, error) {
	h, err := l.Host(host)
	if err != nil {
		return 0, err
	}
	path := filepath.Join(h.Mounts["/var/lib/docker"], filepath.Base(RestartsLog))
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read restarts log of %s: %w", host, err)
	}
	return parseRestarts(b), nil
}

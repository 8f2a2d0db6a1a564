package tasks

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// fakeDocker is a stand-in for a host's dockerd, docker CLI and service
// commands, in folders of the test. Scripts that tasks run find the fake
// docker and dockerd first on PATH, so no test talks to a real dockerd
// or signals a process that it did not start.
//
// The fake daemon is a sleep process whose pid is in the pid file. The
// fake docker CLI answers `docker info` from files in the state folder:
// "down" makes it fail, "insecure" holds the names listed as insecure,
// and "containers" holds "RUNNING LIVE-RESTORE".
type fakeDocker struct {
	t       *testing.T
	dir     string
	state   string
	pidfile string
	log     string
	// daemonJSON is the daemon.json path the vars point to.
	daemonJSON string
	// started maps the pid of each process the test started to its
	// command name, so that cleanup kills only those.
	started map[int]string
}

const fakeDockerScript = `#!/bin/sh
# Fake docker CLI: only "docker info --format TEMPLATE".
state=$FAKE_DOCKER_STATE
if [ -e "$state/down" ]; then
  echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
  exit 1
fi
case "$*" in
  *ContainersRunning*) cat "$state/containers" 2>/dev/null || echo "0 false" ;;
  *RegistryConfig*) cat "$state/insecure" 2>/dev/null || true ;;
  *) echo 20.10.24 ;;
esac
`

const fakeDockerdScript = `#!/bin/sh
# Fake dockerd: --help, and --validate when the state folder allows it.
state=$FAKE_DOCKER_STATE
case "$1" in
  --help)
    echo "Usage: dockerd [OPTIONS]"
    if [ -e "$state/validate" ]; then echo "      --validate   Validate daemon configuration and exit"; fi
    ;;
  --validate)
    if grep -q reject.example "$3"; then echo "unable to configure the Docker daemon with file $3: reject.example is not allowed" >&2; exit 1; fi
    echo "configuration OK"
    ;;
esac
`

func newFakeDocker(t *testing.T) *fakeDocker {
	t.Helper()
	dir := t.TempDir()
	f := &fakeDocker{
		t:          t,
		dir:        dir,
		state:      filepath.Join(dir, "state"),
		pidfile:    filepath.Join(dir, "docker.pid"),
		log:        filepath.Join(dir, "dockerd.log"),
		daemonJSON: filepath.Join(dir, "etc", "daemon.json"),
		started:    map[int]string{},
	}
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{bin, f.state, filepath.Dir(f.daemonJSON)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f.writeFile(filepath.Join(bin, "docker"), fakeDockerScript, 0o755)
	f.writeFile(filepath.Join(bin, "dockerd"), fakeDockerdScript, 0o755)
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	t.Setenv("FAKE_DOCKER_STATE", f.state)
	t.Cleanup(f.stopAll)
	return f
}

func (f *fakeDocker) writeFile(p, content string, mode os.FileMode) {
	f.t.Helper()
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		f.t.Fatal(err)
	}
}

// vars returns host variables that point every dockerd setting at the
// fake, with a short wait.
func (f *fakeDocker) vars() mapVars {
	return mapVars{
		"docker_pidfile":         f.pidfile,
		"docker_service_manager": "none",
		"docker_daemon_json":     f.daemonJSON,
		"docker_certs_dir":       filepath.Join(f.dir, "certs.d"),
		"docker_log_file":        f.log,
		"docker_wait_timeout":    "2s",
		"regtrust_state_dir":     filepath.Join(f.dir, "state-dir"),
		"ca_trust_dir":           filepath.Join(f.dir, "anchors"),
		"ca_update_command":      "true",
	}
}

// fakeDaemonScript is the fake daemon. On SIGHUP it appends its pid to
// the state folder's "hup" file and takes "next-insecure" as its
// insecure registries, as dockerd reloads its configuration.
const fakeDaemonScript = `#!/bin/sh
trap 'echo $$ >> "$FAKE_DOCKER_STATE/hup"; cp "$FAKE_DOCKER_STATE/next-insecure" "$FAKE_DOCKER_STATE/insecure" 2>/dev/null' HUP
while :; do sleep 1 & wait $!; done
`

// startDaemon starts a fake daemon process with args on its command line
// and records its pid in the pid file. Its command line is the shell,
// the script and args, so args follow a word that is not a flag, as the
// words after a real dockerd's program name do.
func (f *fakeDocker) startDaemon(args ...string) int {
	f.t.Helper()
	script := filepath.Join(f.dir, "bin", "fake-dockerd")
	f.writeFile(script, fakeDaemonScript, 0o755)
	cmd := exec.Command(script, args...)
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	go cmd.Wait()
	pid := cmd.Process.Pid
	f.started[pid] = "fake-dockerd"
	f.writeFile(f.pidfile, strconv.Itoa(pid)+"\n", 0o644)
	return pid
}

// restartCommand returns a docker_restart_command that starts a new fake
// daemon, whose pid the pid file then holds, and records each call.
func (f *fakeDocker) restartCommand() string {
	calls := filepath.Join(f.state, "restarts")
	spawned := filepath.Join(f.state, "spawned")
	return "echo restart >> " + shellQuote(calls) + "; sleep 300 </dev/null >/dev/null 2>&1 & echo $! > " + shellQuote(f.pidfile) + "; echo $! >> " + shellQuote(spawned)
}

// restarts returns how often the restart command ran.
func (f *fakeDocker) restarts() int {
	b, _ := os.ReadFile(filepath.Join(f.state, "restarts"))
	return strings.Count(string(b), "restart")
}

// currentPID returns the pid in the pid file.
func (f *fakeDocker) currentPID() int {
	b, _ := os.ReadFile(f.pidfile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// stopAll kills the fake daemons that the test started: the ones it
// started itself and the ones its restart commands started.
func (f *fakeDocker) stopAll() {
	b, _ := os.ReadFile(filepath.Join(f.state, "spawned"))
	for _, field := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(field); err == nil {
			f.started[pid] = "sleep"
		}
	}
	for pid, name := range f.started {
		if commandName(pid) == name {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// commandName returns the command name of process pid, or "" when it is
// gone. A pid whose name changed now belongs to another process.
func commandName(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

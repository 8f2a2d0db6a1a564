package tasks

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// RestartDockerName is the task that restarts or reloads dockerd when a
// change of this run needs it.
const RestartDockerName = "restart_docker_if_changed"

// defaultWaitTimeout bounds how long the task waits for dockerd to answer
// after a restart. Pulling the daemon back up with its containers can take
// tens of seconds on a busy host.
const defaultWaitTimeout = 90 * time.Second

// restartDocker does the least a change needs: nothing when no change of
// this run needs dockerd to act, a reload (SIGHUP) when only reloadable
// settings changed, and a restart when the OS trust store changed. It
// acts at most once per host and run: after acting, the needs are cleared.
type restartDocker struct{}

func newRestartDocker(args *yaml.Node, env *Env) (Task, error) {
	if err := decodeArgs(args, &struct{}{}, "(none)"); err != nil {
		return nil, err
	}
	return restartDocker{}, nil
}

const dockerdFact = "dockerd"

// defaultPidfile is where a rootful dockerd writes its process id unless
// started with --pidfile. The pidfile, not a process search, tells
// whether dockerd runs, because a search can find a dockerd that serves
// another mount namespace or user (rootless Docker) and is not the one
// this host's files configure.
const defaultPidfile = "/var/run/docker.pid"

// dockerdScript prints the running dockerd's process id (or 0), read
// from the pidfile given as $1, and the service manager that runs it.
const dockerdScript = `pid=0
if [ -r "$1" ]; then pid=$(cat "$1"); fi
case "$pid" in ''|*[!0-9]*) pid=0 ;; esac
if [ "$pid" != 0 ] && ! kill -0 "$pid" 2>/dev/null; then pid=0; fi
echo "pid $pid"
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then echo manager systemd
elif command -v rc-service >/dev/null && [ -e /etc/init.d/docker ]; then echo manager openrc
elif command -v snap >/dev/null && snap list docker >/dev/null 2>&1; then echo manager snap
elif [ -x /etc/init.d/docker ]; then echo manager sysv
else echo manager none
fi`

type dockerdState struct {
	pid     int
	manager string
}

func readDockerd(t *Target) (dockerdState, error) {
	out, err := t.Fact(dockerdFact)
	if err != nil {
		return dockerdState{}, err
	}
	var st dockerdState
	for _, line := range strings.Split(out, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch k {
		case "pid":
			st.pid, _ = strconv.Atoi(v)
		case "manager":
			st.manager = v
		}
	}
	return st, nil
}

func (restartDocker) Probes(t *Target) []Probe {
	pidfile, err := t.Var("docker_pidfile", defaultPidfile)
	if err != nil || pidfile == "" {
		pidfile = defaultPidfile
	}
	script := "set -- " + shellQuote(pidfile) + "\n" + dockerdScript
	return []Probe{{Key: dockerdFact, Script: script}}
}

func (restartDocker) CheckApply(ctx context.Context, t *Target, apply bool) (Result, error) {
	restart, reload := t.RestartReasons(), t.ReloadReasons()
	if len(restart) == 0 && len(reload) == 0 {
		return Result{Message: "no change of this run needs dockerd to restart or reload"}, nil
	}
	d, err := readDockerd(t)
	if err != nil {
		return Result{}, err
	}
	if d.pid == 0 {
		t.clearDaemonNeeds()
		return Result{Message: "dockerd is not running; it takes the change when it starts"}, nil
	}
	action, reasons := "reload", reload
	if len(restart) > 0 {
		action, reasons = "restart", append(restart, reload...)
	}
	cmd, err := serviceCommand(t, d, action)
	if err != nil {
		return Result{}, err
	}
	res := Result{Changed: true, Message: fmt.Sprintf("%s dockerd (%s)", action, strings.Join(reasons, "; "))}
	if apply {
		wait, err := waitTimeout(t)
		if err != nil {
			return Result{}, err
		}
		out, err := t.Exec(ctx, cmd+"\n"+waitScript(wait))
		if err != nil {
			return Result{}, fmt.Errorf("%s dockerd: %w", action, err)
		}
		if err := out.Err(); err != nil {
			return Result{}, fmt.Errorf("%s dockerd with %q: %w", action, cmd, err)
		}
	}
	t.clearDaemonNeeds()
	return res, nil
}

// serviceCommand returns the shell command that restarts or reloads
// dockerd: the host variable docker_restart_command or
// docker_reload_command when set, else the service manager's command. A
// reload without a service manager sends SIGHUP to the running dockerd.
func serviceCommand(t *Target, d dockerdState, action string) (string, error) {
	custom, err := t.Var("docker_"+action+"_command", "")
	if err != nil || custom != "" {
		return custom, err
	}
	switch d.manager {
	case "systemd":
		return "systemctl " + action + " docker", nil
	case "openrc":
		return "rc-service docker " + action, nil
	case "snap":
		if action == "reload" {
			return fmt.Sprintf("kill -HUP %d", d.pid), nil
		}
		return "snap restart docker", nil
	case "sysv":
		if action == "reload" {
			return fmt.Sprintf("kill -HUP %d", d.pid), nil
		}
		return "/etc/init.d/docker restart", nil
	}
	if action == "reload" {
		return fmt.Sprintf("kill -HUP %d", d.pid), nil
	}
	return "", fmt.Errorf("no service manager found to restart dockerd (no systemd, OpenRC, snap or /etc/init.d/docker); set the host variable docker_restart_command")
}

func waitTimeout(t *Target) (time.Duration, error) {
	s, err := t.Var("docker_wait_timeout", "")
	if err != nil || s == "" {
		return defaultWaitTimeout, err
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("host variable docker_wait_timeout=%q is not a positive duration such as 90s", s)
	}
	return d, nil
}

// waitScript waits, polling every half second, until dockerd answers,
// and fails with dockerd's last error when it does not within d.
func waitScript(d time.Duration) string {
	tries := int(d/(500*time.Millisecond)) + 1
	return fmt.Sprintf(`i=0
while [ $i -lt %d ]; do
  if out=$(docker info --format '{{.ServerVersion}}' 2>&1); then exit 0; fi
  sleep 0.5
  i=$((i+1))
done
echo "dockerd did not answer within %s: $out" >&2
exit 1
`, tries, d)
}

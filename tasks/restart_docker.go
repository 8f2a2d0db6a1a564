package tasks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// RestartDockerName is the task that restarts or reloads dockerd when a
// change of this run needs it.
const RestartDockerName = "restart_docker_if_changed"

// defaultWaitTimeout bounds how long the task waits for dockerd to
// respond and show the new settings after it acted. Pulling the daemon back up
// with its containers can take tens of seconds on a busy host.
const defaultWaitTimeout = 90 * time.Second

// restartDocker does the least the changes need, at most once per host
// and run. That is nothing when no change needs dockerd to act, because
// dockerd reads certs.d at every pull, a reload when only settings that
// dockerd reloads changed, and a restart when the OS trust store or
// another setting changed. After acting it proves the result: dockerd
// responds, `docker info` lists the changed insecure registries, a
// restart gave a new process, and a TLS connection to each registry whose
// trust changed verifies. When dockerd does not come back, or a reload is
// not taken, it restores the previous daemon.json and acts again, and the
// host fails with dockerd's own error.
type restartDocker struct{}

func newRestartDocker(args *yaml.Node, env *Env) (Task, error) {
	if err := decodeArgs(args, &struct{}{}, "(none)"); err != nil {
		return nil, err
	}
	return restartDocker{}, nil
}

func (restartDocker) Probes(t *Target) []Probe {
	return []Probe{dockerdProbe(t), {Path: osReleasePath, Content: true}}
}

// IdleOn reports whether the handler is sure to change nothing on the
// host: dockerd does not run there, so it takes every change when it
// starts. Such a handler need not be recorded in the pending-handler
// journal, which saves a host one command per run.
func (restartDocker) IdleOn(t *Target) bool {
	d, err := readDockerd(t)
	return err == nil && d.pid == 0
}

func (restartDocker) CheckApply(ctx context.Context, t *Target, apply bool) (Result, error) {
	restart, reload := t.RestartReasons(), t.ReloadReasons()
	if len(restart) == 0 && len(reload) == 0 {
		return Result{Message: "no change needs dockerd to restart or reload"}, nil
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
	plan, err := newActPlan(t, d, action)
	if err != nil {
		return Result{}, err
	}
	// NOTE: without a docker CLI on the host the count is unknown, and
	// the restart goes ahead.
	if action == "restart" && !plan.allowContainers && d.containers > 0 && !d.liveRestore {
		return Result{}, containersRunningError(d.containers, reasons)
	}
	res := Result{Changed: true, Message: fmt.Sprintf("%s dockerd (%s)", action, strings.Join(reasons, "; "))}
	if !apply {
		t.clearDaemonNeeds()
		return res, nil
	}

	ctx, cancel := context.WithTimeout(ctx, plan.timeout())
	defer cancel()
	out, err := t.Exec(ctx, plan.actScript())
	if err != nil {
		return Result{}, fmt.Errorf("%s dockerd: %w; whether dockerd acted is unknown, and the next run does it again", action, err)
	}
	report := parseReport(out.Stdout)
	switch out.ExitStatus {
	case 0:
		t.clearDaemonNeeds()
		res.Message += "; " + plan.describeSuccess(report)
		return res, nil
	case containersStatus:
		return Result{}, containersRunningError(report.int("containers"), reasons)
	case commandFailedStatus:
		cause := fmt.Errorf("%s command %q failed: %s", action, plan.command, lastLines(withoutInfo(report.text("output")+string(out.Stderr)), 3))
		return Result{}, plan.rollback(ctx, t, cause)
	case waitFailedStatus:
		cause := fmt.Errorf("dockerd did not come back within %s: %s", plan.wait, report.text("last"))
		if action == "reload" {
			cause = fmt.Errorf("dockerd did not take the reload within %s: %s", plan.wait, report.text("last"))
		}
		return Result{}, plan.rollback(ctx, t, cause)
	case tlsFailedStatus:
		// dockerd acted; what fails is the registry's side.
		t.clearDaemonNeeds()
		return Result{}, fmt.Errorf("%s dockerd: done (%s), but a TLS connection from the host to %s does not verify: %s; check that the registry's certificate chains to the trusted CA and names that address",
			action, plan.describeSuccess(report), report.text("tls_registry"), lastLines(report.text("tls_error"), 5))
	}
	return Result{}, fmt.Errorf("%s dockerd: %w", action, out.Err())
}

// containersRunningError is the failure of a restart that would stop
// running containers without permission.
func containersRunningError(n int, reasons []string) error {
	return fmt.Errorf("restart of dockerd is pending (%s), but %d containers are running and live-restore is off, so a restart would stop them; set allow_container_restart: true as a play or host variable to restart anyway, or enable live-restore; the next run tries again",
		strings.Join(reasons, "; "), n)
}

// serviceCommand returns the shell command that restarts or reloads
// dockerd: the host variable docker_restart_command or
// docker_reload_command when set, else the service manager's command. A
// reload without systemd or OpenRC sends SIGHUP to the running dockerd,
// which is what their reload does. The command runs after the scripts'
// current_pid function is defined, so SIGHUP goes to the dockerd that
// runs then, even when an earlier handler of the run restarted it.
func serviceCommand(t *Target, d dockerdState, action string) (string, error) {
	custom, err := t.Var("docker_"+action+"_command", "")
	if err != nil || custom != "" {
		return custom, err
	}
	hup := `kill -HUP "$(current_pid)"`
	switch d.manager {
	case "systemd":
		return "systemctl " + action + " docker.service", nil
	case "openrc":
		return "rc-service docker " + action, nil
	case "snap":
		if action == "reload" {
			return hup, nil
		}
		return "snap restart docker", nil
	case "sysv":
		if action == "reload" {
			return hup, nil
		}
		return "if command -v service >/dev/null 2>&1; then service docker restart; else /etc/init.d/docker restart; fi", nil
	}
	if action == "reload" {
		return hup, nil
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

// lastLines returns the last n non-empty lines of s, joined by " | ".
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 0 {
		return "(no output)"
	}
	return strings.Join(lines, " | ")
}

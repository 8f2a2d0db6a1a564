package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regtrust/regtrust/internal/lab"
	"github.com/regtrust/regtrust/internal/lab/labtest"
)

const (
	daemonJSONPath = "/etc/docker/daemon.json"
	journalPath    = "/var/lib/regtrust/pending-handlers.json"
	// hangPIDFile is the file inside the host that the hanging reload
	// command of the cut-off run writes the pid of its sleep to.
	hangPIDFile = "/var/lib/regtrust/lab-hang.pid"
)

// insecureTemplate adds an insecure registry on both dockerd hosts, one
// host per batch, stopping at the first failure.
const insecureTemplate = `- name: Add an insecure registry, one host at a time
  hosts: dockerd_hosts
  serial: 1
  max_fail_percentage: 0
  vars:
    docker_wait_timeout: 30s
  tasks:
    - daemon_json_insecure: {registries: ["%s"]}
      notify: restart_docker_if_changed
  handlers:
    - restart_docker_if_changed:
`

// systemTemplate trusts the lab registry in the OS trust store and adds
// an insecure registry, which together need one dockerd restart. The
// placeholders are the registry address, its pin and the entry.
const systemTemplate = `- name: Trust the lab registry system-wide
  hosts: dockerd_hosts
  vars:
    docker_wait_timeout: 30s
  registries:
    lab: {address: %s, ca_sha256: "%s"}
  tasks:
    - fetch_ca: {registry: lab}
    - place_system_cert: {registry: lab}
      notify: update_ca
    - daemon_json_insecure: {registries: ["%s"]}
      notify: restart_docker_if_changed
  handlers:
    - update_ca:
      notify: restart_docker_if_changed
    - restart_docker_if_changed:
`

// hostState is the state of one host that a step compares before and
// after a run.
type hostState struct {
	daemonJSON []byte
	pid        int
	restarts   int
}

func readHostState(t *testing.T, l *lab.Lab, host string) hostState {
	t.Helper()
	b, err := l.ReadFile(host, daemonJSONPath)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := l.DockerdPID(host)
	if err != nil {
		t.Fatalf("%s: %v", host, err)
	}
	n, err := l.Restarts(host)
	if err != nil {
		t.Fatal(err)
	}
	return hostState{daemonJSON: b, pid: pid, restarts: n}
}

// insecureListed returns the registries that the host's dockerd lists as
// insecure in docker info.
func insecureListed(t *testing.T, l *lab.Lab, host string) string {
	t.Helper()
	out, err := l.Exec(t.Context(), host, "docker", "info", "--format",
		"{{range $name, $index := .RegistryConfig.IndexConfigs}}{{if not $index.Secure}}{{$name}} {{end}}{{end}}")
	if err != nil {
		t.Fatalf("%s: docker info: %v\n%s", host, err, out)
	}
	return " " + string(out) + " "
}

// restartWithFlags sets the extra flags of a host's dockerd and restarts
// it through the lab's restart script, so that its command line has them.
func restartWithFlags(t *testing.T, l *lab.Lab, host string, flags ...string) {
	t.Helper()
	if err := l.SetDockerdFlags(host, flags...); err != nil {
		t.Fatal(err)
	}
	h, err := l.Host(host)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := l.Exec(t.Context(), host, "sh", "-c", h.RestartCommand); err != nil {
		t.Fatalf("%s: restart with flags %q: %v\n%s", host, flags, err, out)
	}
}

func (r result) hostError(t *testing.T, host string) string {
	t.Helper()
	if r.report == nil {
		t.Fatal("no report written")
	}
	var b strings.Builder
	for _, tr := range r.report.host(t, host).Tasks {
		if tr.Status == "failed" {
			b.WriteString(tr.Message)
		}
	}
	return b.String()
}

// TestDaemonChanges proves on two hosts with real dockerd 20.10 that
// daemon changes never leave a host without a working dockerd.
//
// NOTE: Debian 12's dockerd 20.10 has no --validate, so the validation
// path (dockerd --validate --config-file before the rename) runs only in
// the tasks package's tests, against a stand-in dockerd.
func TestDaemonChanges(t *testing.T) {
	labtest.Require(t)
	bin := buildCLI(t)
	l := labtest.Start(t, lab.Options{Hosts: 2, DockerHosts: 2})
	c := &cli{bin: bin, lab: l, dir: t.TempDir()}
	write := func(name, content string) string {
		p := filepath.Join(c.dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	insecure := write("insecure.yml", fmt.Sprintf(insecureTemplate, "legacy.lab:5000"))
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("invalid-daemon-json-stops-rollout", func(t *testing.T) {
		orig, err := l.ReadFile("node1", daemonJSONPath)
		if err != nil {
			t.Fatal(err)
		}
		invalid := []byte("{\"debug\": true,,\n")
		if err := l.WriteFile("node1", daemonJSONPath, invalid, 0o644); err != nil {
			t.Fatal(err)
		}
		node1, node2 := readHostState(t, l, "node1"), readHostState(t, l, "node2")

		res := c.run(t, insecure)
		if res.exit != 1 {
			t.Errorf("exit = %d; want 1", res.exit)
		}
		checkHostStatus(t, res, "node1", "failed")
		checkHostStatus(t, res, "node2", "not_run")
		if msg := res.hostError(t, "node1"); !strings.Contains(msg, "invalid JSON at line 1") || !strings.Contains(msg, "left it unchanged") {
			t.Errorf("node1 error = %q; want the parse error and that the file was left alone", msg)
		}
		if !strings.Contains(res.stdout, "the rollout stopped: 1 of 1 hosts failed in batch 1 of 2") {
			t.Errorf("output does not say the rollout stopped after batch 1:\n%s", res.stdout)
		}
		after1, after2 := readHostState(t, l, "node1"), readHostState(t, l, "node2")
		if !bytes.Equal(after1.daemonJSON, invalid) {
			t.Errorf("node1 daemon.json = %q; want it byte for byte as it was, %q", after1.daemonJSON, invalid)
		}
		if after1.pid != node1.pid || after1.restarts != node1.restarts {
			t.Errorf("node1 dockerd pid %d, restarts %d; want %d and %d", after1.pid, after1.restarts, node1.pid, node1.restarts)
		}
		if !bytes.Equal(after2.daemonJSON, node2.daemonJSON) || after2.pid != node2.pid {
			t.Errorf("node2 was changed although its batch never ran: daemon.json %q, pid %d", after2.daemonJSON, after2.pid)
		}
		if err := l.WriteFile("node1", daemonJSONPath, orig, 0o644); err != nil {
			t.Fatal(err)
		}
	})

	step("flag-conflict-refused-before-writing", func(t *testing.T) {
		restartWithFlags(t, l, "node2", "--insecure-registry=flagged.lab:5000")
		before := readHostState(t, l, "node2")
		res := c.run(t, insecure, "--limit", "node2")
		checkHostStatus(t, res, "node2", "failed")
		msg := res.hostError(t, "node2")
		for _, want := range []string{`daemon.json key "insecure-registries" is also set by flag --insecure-registry`, "command line of the running dockerd", "left /etc/docker/daemon.json unchanged"} {
			if !strings.Contains(msg, want) {
				t.Errorf("node2 error = %q; want it to contain %q", msg, want)
			}
		}
		after := readHostState(t, l, "node2")
		if !bytes.Equal(after.daemonJSON, before.daemonJSON) || after.pid != before.pid || after.restarts != before.restarts {
			t.Errorf("node2 changed: daemon.json %q (was %q), pid %d (was %d), restarts %d (was %d)",
				after.daemonJSON, before.daemonJSON, after.pid, before.pid, after.restarts, before.restarts)
		}
		restartWithFlags(t, l, "node2")
	})

	step("restart-once-and-roll-back", func(t *testing.T) {
		// node2's next start gets a flag that conflicts with the change.
		// Its running dockerd does not show the flag yet, as after an
		// edit of an init script's options that was not applied.
		if err := l.SetDockerdFlags("node2", "--insecure-registry=flagged.lab:5000"); err != nil {
			t.Fatal(err)
		}
		node1, node2 := readHostState(t, l, "node1"), readHostState(t, l, "node2")
		system := write("system.yml", fmt.Sprintf(systemTemplate, l.Registry.Address, l.Registry.CASHA256, "rollback.lab:5000"))
		res := c.run(t, system)

		// node1: the trust store change and the insecure entry need one
		// restart, which makes the registry's CA trusted.
		checkHostStatus(t, res, "node1", "changed")
		after1 := readHostState(t, l, "node1")
		if after1.restarts != node1.restarts+1 {
			t.Errorf("node1 restarts = %d; want exactly one more than %d", after1.restarts, node1.restarts)
		}
		if after1.pid == node1.pid {
			t.Errorf("node1 dockerd pid = %d; want a new process after the restart", after1.pid)
		}
		if listed := insecureListed(t, l, "node1"); !strings.Contains(listed, " rollback.lab:5000 ") {
			t.Errorf("node1 docker info insecure registries = %q; want rollback.lab:5000", listed)
		}
		if msg := handlerMessage(t, res, "node1"); !strings.Contains(msg, "TLS to "+l.Registry.Address+" verifies") {
			t.Errorf("node1 handler message = %q; want the registry's TLS check", msg)
		}
		if out, ok := pull(t, l, "node1"); !ok {
			t.Errorf("node1: pull after the restart failed\n%s", out)
		}

		// node2: dockerd does not start with the new file; regtrust puts
		// the old one back and dockerd runs again.
		checkHostStatus(t, res, "node2", "failed")
		msg := res.hostError(t, "node2")
		for _, want := range []string{
			"restart command",
			"specified both as a flag and in the configuration file",
			"restored /etc/docker/daemon.json from /etc/docker/daemon.json.regtrust-backup",
			"ran the restart command again, and dockerd responds as pid",
		} {
			if !strings.Contains(msg, want) {
				t.Errorf("node2 error = %q; want it to contain %q", msg, want)
			}
		}
		after2 := readHostState(t, l, "node2")
		if !bytes.Equal(after2.daemonJSON, node2.daemonJSON) {
			t.Errorf("node2 daemon.json = %q after the rollback; want %q", after2.daemonJSON, node2.daemonJSON)
		}
		if after2.restarts != node2.restarts+2 {
			t.Errorf("node2 restarts = %d; want %d, the failed one and the one after the rollback", after2.restarts, node2.restarts+2)
		}
		if out, err := l.Exec(t.Context(), "node2", "docker", "info", "--format", "{{.ServerVersion}}"); err != nil {
			t.Errorf("node2 dockerd does not respond after the rollback: %v\n%s", err, out)
		}
		restartWithFlags(t, l, "node2")
	})

	step("reload-without-restart", func(t *testing.T) {
		before := map[string]hostState{"node1": readHostState(t, l, "node1"), "node2": readHostState(t, l, "node2")}
		res := c.run(t, insecure, "--detailed-exitcode")
		if res.exit != 2 {
			t.Errorf("exit = %d; want 2 (changes made)", res.exit)
		}
		for host, b := range before {
			checkHostStatus(t, res, host, "changed")
			after := readHostState(t, l, host)
			if after.pid != b.pid || after.restarts != b.restarts {
				t.Errorf("%s dockerd pid %d, restarts %d; want %d and %d, a reload and no restart", host, after.pid, after.restarts, b.pid, b.restarts)
			}
			if listed := insecureListed(t, l, host); !strings.Contains(listed, " legacy.lab:5000 ") {
				t.Errorf("%s docker info insecure registries = %q; want legacy.lab:5000", host, listed)
			}
			if msg := handlerMessage(t, res, host); !strings.HasPrefix(msg, "reload dockerd") {
				t.Errorf("%s handler message = %q; want a reload", host, msg)
			}
			if _, err := l.ReadFile(host, journalPath); err == nil {
				t.Errorf("%s: %s still exists after the handler ran", host, journalPath)
			}
		}
	})

	step("cut-off-run-completed-by-next", func(t *testing.T) {
		before := readHostState(t, l, "node1")
		resume := write("resume.yml", strings.Replace(fmt.Sprintf(insecureTemplate, "resume.lab:5000"), "  serial: 1\n", "", 1))
		hang := write("hang.yml", "all:\n  hosts:\n    node1:\n      docker_reload_command: \"sleep 120 & echo $! > "+hangPIDFile+"; wait $!\"\n")
		cmd := exec.CommandContext(t.Context(), c.bin, "run", resume, "-i", l.Inventory, "-i", hang, "--known-hosts", c.lab.KnownHosts, "--limit", "node1")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pid := waitForHostFile(t, l, "node1", hangPIDFile)
		// Cut the run off while its handler runs, as a lost connection or
		// a killed controller would, and end the handler's command.
		cmd.Process.Kill()
		cmd.Wait()
		if out, err := l.Exec(t.Context(), "node1", "kill", pid); err != nil {
			t.Fatalf("kill the hanging reload command: %v\n%s", err, out)
		}
		t.Logf("cut-off run output:\n%s", out.String())

		journal, err := l.ReadFile("node1", journalPath)
		if err != nil {
			t.Fatalf("no journal after the cut-off run: %v", err)
		}
		if !strings.Contains(string(journal), `"restart_docker_if_changed"`) || !strings.Contains(string(journal), `"resume.lab:5000"`) {
			t.Errorf("journal = %s; want the pending handler and the entry it must show", journal)
		}
		if listed := insecureListed(t, l, "node1"); strings.Contains(listed, " resume.lab:5000 ") {
			t.Fatalf("node1 already lists resume.lab:5000 after the cut-off run; the test did not cut it off in time")
		}

		res := c.run(t, resume, "--limit", "node1")
		checkHostStatus(t, res, "node1", "changed")
		h := res.report.host(t, "node1")
		if got := h.taskStatus("daemon_json_insecure"); got != "ok" {
			t.Errorf("daemon_json_insecure status = %s; want ok, the file already has the entry", got)
		}
		if msg := handlerMessage(t, res, "node1"); !strings.Contains(msg, "pending from an earlier run") || !strings.Contains(msg, "reload dockerd") {
			t.Errorf("handler message = %q; want the pending reload", msg)
		}
		if listed := insecureListed(t, l, "node1"); !strings.Contains(listed, " resume.lab:5000 ") {
			t.Errorf("node1 docker info insecure registries = %q; want resume.lab:5000", listed)
		}
		after := readHostState(t, l, "node1")
		if after.pid != before.pid || after.restarts != before.restarts {
			t.Errorf("node1 dockerd pid %d, restarts %d; want %d and %d", after.pid, after.restarts, before.pid, before.restarts)
		}
		if _, err := l.ReadFile("node1", journalPath); err == nil {
			t.Errorf("%s still exists after the pending handler ran", journalPath)
		}
	})
}

func checkHostStatus(t *testing.T, res result, host, want string) {
	t.Helper()
	if res.report == nil {
		t.Fatal("no report written")
	}
	if got := res.report.host(t, host).Status; got != want {
		t.Errorf("%s status = %s; want %s", host, got, want)
	}
}

// handlerMessage returns the message of the host's restart handler.
func handlerMessage(t *testing.T, res result, host string) string {
	t.Helper()
	for _, tr := range res.report.host(t, host).Tasks {
		if tr.Task == "restart_docker_if_changed" {
			return tr.Message
		}
	}
	t.Errorf("%s: the report has no restart_docker_if_changed", host)
	return ""
}

// waitForHostFile waits until the file exists inside the host and returns
// its trimmed content. The bound only keeps a broken run from hanging the
// test; the file normally appears within seconds.
func waitForHostFile(t *testing.T, l *lab.Lab, host, path string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for {
		if b, err := l.ReadFile(host, path); err == nil && len(bytes.TrimSpace(b)) > 0 {
			return strings.TrimSpace(string(b))
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %s did not appear", host, path)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

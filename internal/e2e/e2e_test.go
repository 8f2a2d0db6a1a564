package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/regtrust/regtrust/internal/lab"
	"github.com/regtrust/regtrust/internal/lab/labtest"
)

const (
	x509UnknownAuthority = "x509: certificate signed by unknown authority"
	// insecureEntry is the registry that the system-trust play adds to
	// insecure-registries, so that it also changes daemon.json.
	insecureEntry = "legacy.lab:5000"
	// node3Key is the daemon.json key node3 has before any run; a merge
	// must keep it.
	node3Key, node3Value = "log-level", "warn"
	// cliTimeout bounds one regtrust run. A run on three lab hosts takes
	// a few seconds; a dockerd restart is the slow part.
	cliTimeout = 3 * time.Minute
)

// playbookTemplate trusts the lab registry on certsd hosts through
// certs.d and on systrust hosts through the OS trust store. The
// placeholders are the registry address and the pin, twice each.
const playbookTemplate = `- name: Trust the lab registry through Docker's certs.d
  hosts: certsd
  registries:
    lab:
      address: %[1]s
      ca_sha256: "%[2]s"
  tasks:
    - fetch_ca: {registry: lab}
    - place_docker_cert: {registry: lab}
- name: Trust the lab registry system-wide
  hosts: systrust
  registries:
    lab: {address: %[1]s, ca_sha256: "%[2]s"}
  tasks:
    - fetch_ca: {registry: lab}
    - place_system_cert: {registry: lab}
      notify: update_ca
    - daemon_json_insecure: {registries: ["` + insecureEntry + `"]}
      notify: restart_docker_if_changed
  handlers:
    - update_ca:
      notify: restart_docker_if_changed
    - restart_docker_if_changed:
`

// report is the JSON that --report writes.
type report struct {
	Check    bool         `json:"check"`
	Warnings []string     `json:"warnings"`
	Hosts    []hostReport `json:"hosts"`
	Totals   struct {
		Hosts       int `json:"hosts"`
		OK          int `json:"ok"`
		Changed     int `json:"changed"`
		Failed      int `json:"failed"`
		Unreachable int `json:"unreachable"`
	} `json:"totals"`
}

type hostReport struct {
	Host     string       `json:"host"`
	Status   string       `json:"status"`
	Error    string       `json:"error"`
	Tasks    []taskReport `json:"tasks"`
	Handlers []string     `json:"handlers"`
}

type taskReport struct {
	Play    string `json:"play"`
	Task    string `json:"task"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

func (r *report) host(t *testing.T, name string) hostReport {
	t.Helper()
	for _, h := range r.Hosts {
		if h.Host == name {
			return h
		}
	}
	t.Fatalf("report has no host %s; hosts: %+v", name, r.Hosts)
	return hostReport{}
}

// taskStatus returns the status of the first task of that type, or
// "absent". The report labels a task that acts on a registry with the
// registry's name too, as in "place_docker_cert lab".
func (h hostReport) taskStatus(task string) string {
	for _, tr := range h.Tasks {
		if tr.Task == task || strings.HasPrefix(tr.Task, task+" ") {
			return tr.Status
		}
	}
	return "absent"
}

// cli runs the regtrust binary built for this test run.
type cli struct {
	bin string
	lab *lab.Lab
	dir string
	// knownHosts replaces the lab's known_hosts file when set.
	knownHosts string
}

type result struct {
	exit           int
	stdout, stderr string
	report         *report // nil when no report was written
	elapsed        time.Duration
}

// run runs `regtrust run PLAYBOOK` against the lab inventory and known
// hosts with extra flags, and reads the report it writes.
func (c *cli) run(t *testing.T, playbook string, flags ...string) result {
	t.Helper()
	reportPath := filepath.Join(c.dir, fmt.Sprintf("report-%d.json", time.Now().UnixNano()))
	known := c.lab.KnownHosts
	if c.knownHosts != "" {
		known = c.knownHosts
	}
	args := append([]string{
		"run", playbook,
		"-i", c.lab.Inventory,
		"--known-hosts", known,
		"--report", reportPath,
	}, flags...)

	res := c.exec(t, args...)
	b, err := os.ReadFile(reportPath)
	if errors.Is(err, fs.ErrNotExist) {
		return res
	}
	if err != nil {
		t.Fatal(err)
	}
	res.report = &report{}
	if err := json.Unmarshal(b, res.report); err != nil {
		t.Fatalf("parse report %s: %v\n%s", reportPath, err, b)
	}
	return res
}

// buildCLI builds ./cmd/regtrust into a temporary folder.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "regtrust")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/regtrust/regtrust/cmd/regtrust")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build regtrust: %v\n%s", err, out)
	}
	return bin
}

// snapshot maps "host:path" to a description of every file, folder and
// symlink under the folders the product may change, plus each host's
// restart count and dockerd pid. Two equal snapshots mean no byte,
// mode or link target changed and no dockerd restarted.
func snapshot(t *testing.T, l *lab.Lab) map[string]string {
	t.Helper()
	snap := map[string]string{}
	watched := []string{"/etc/docker", "/usr/local/share/ca-certificates", "/etc/ssl/certs", "/var/lib/regtrust",
		"/etc/pki", "/etc/ca-certificates/trust-source", "/etc/containerd", "/etc/containers", "/root"}
	for _, h := range l.Hosts {
		for _, target := range watched {
			root := h.Mounts[target]
			err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel, err := filepath.Rel(root, p)
				if err != nil {
					return err
				}
				info, err := d.Info()
				if err != nil {
					return err
				}
				key := h.Name + ":" + path.Join(target, rel)
				switch {
				case info.Mode()&fs.ModeSymlink != 0:
					link, err := os.Readlink(p)
					if err != nil {
						return err
					}
					snap[key] = "symlink -> " + link
				case d.IsDir():
					snap[key] = "dir " + info.Mode().String()
				default:
					b, err := os.ReadFile(p)
					if err != nil {
						return err
					}
					sum := sha256.Sum256(b)
					snap[key] = "file " + info.Mode().String() + " " + hex.EncodeToString(sum[:])
				}
				return nil
			})
			if err != nil {
				t.Fatalf("snapshot %s %s: %v", h.Name, target, err)
			}
		}
		restarts, err := l.Restarts(h.Name)
		if err != nil {
			t.Fatal(err)
		}
		snap[h.Name+":restarts"] = fmt.Sprint(restarts)
		if h.Dockerd {
			pid, err := l.DockerdPID(h.Name)
			if err != nil {
				t.Fatal(err)
			}
			snap[h.Name+":dockerd-pid"] = fmt.Sprint(pid)
		}
	}
	return snap
}

// diffSnapshots lists what differs between two snapshots, sorted.
func diffSnapshots(before, after map[string]string) []string {
	var diffs []string
	for k, v := range before {
		if w, ok := after[k]; !ok {
			diffs = append(diffs, "removed "+k)
		} else if w != v {
			diffs = append(diffs, fmt.Sprintf("changed %s: %s -> %s", k, v, w))
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			diffs = append(diffs, "added "+k)
		}
	}
	sort.Strings(diffs)
	return diffs
}

// pull runs docker pull of the lab image on a host and returns the
// output and whether it succeeded.
func pull(t *testing.T, l *lab.Lab, host string) (string, bool) {
	t.Helper()
	out, err := l.Exec(t.Context(), host, "docker", "pull", l.Registry.Image)
	return string(out), err == nil
}

// containsCert reports whether pemBytes holds a certificate equal to
// the one in certPEM.
func containsCert(t *testing.T, pemBytes, certPEM []byte) bool {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatalf("no PEM block in %q", certPEM)
	}
	for {
		var b *pem.Block
		b, pemBytes = pem.Decode(pemBytes)
		if b == nil {
			return false
		}
		if b.Type == "CERTIFICATE" && bytes.Equal(b.Bytes, block.Bytes) {
			return true
		}
	}
}

func readDaemonJSON(t *testing.T, l *lab.Lab, host string) map[string]any {
	t.Helper()
	b, err := l.ReadFile(host, "/etc/docker/daemon.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: parse daemon.json: %v\n%s", host, err, b)
	}
	return m
}

func insecureRegistries(m map[string]any) []string {
	list, _ := m["insecure-registries"].([]any)
	var out []string
	for _, v := range list {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// TestRun drives the product over the lab: node1 (dockerd) trusts the
// registry through certs.d, node2 (dockerd) and node3 (sshd only)
// through the OS trust store plus a daemon.json change.
func TestRun(t *testing.T) {
	labtest.Require(t)
	bin := buildCLI(t)
	l := labtest.Start(t, lab.Options{
		Hosts:       3,
		DockerHosts: 2,
		Groups: map[string][]string{
			"certsd":   {"node1"},
			"systrust": {"node2", "node3"},
		},
	})
	c := &cli{bin: bin, lab: l, dir: t.TempDir()}
	node3JSON := fmt.Sprintf("{\n  %q: %q\n}\n", node3Key, node3Value)
	if err := l.WriteFile("node3", "/etc/docker/daemon.json", []byte(node3JSON), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(c.dir, "site.yml")
	if err := os.WriteFile(good, []byte(fmt.Sprintf(playbookTemplate, l.Registry.Address, l.Registry.CASHA256)), 0o644); err != nil {
		t.Fatal(err)
	}
	wrongPin := strings.Repeat("00:", 31) + "00"
	bad := filepath.Join(c.dir, "wrong-pin.yml")
	if err := os.WriteFile(bad, []byte(fmt.Sprintf(playbookTemplate, l.Registry.Address, wrongPin)), 0o644); err != nil {
		t.Fatal(err)
	}
	initial := snapshot(t, l)

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("pull-fails-before", func(t *testing.T) {
		for _, host := range []string{"node1", "node2"} {
			out, ok := pull(t, l, host)
			if ok || !strings.Contains(out, x509UnknownAuthority) {
				t.Errorf("%s: pull succeeded=%v, output %q; want a failure with %q", host, ok, out, x509UnknownAuthority)
			}
		}
	})

	step("wrong-pin-changes-nothing", func(t *testing.T) {
		res := c.run(t, bad)
		if res.exit != 1 {
			t.Errorf("exit = %d; want 1", res.exit)
		}
		if !strings.Contains(res.stdout+res.stderr, l.Registry.CASHA256) && !strings.Contains(strings.ToLower(res.stdout+res.stderr), "pin") {
			t.Errorf("output names neither the pin nor the fetched fingerprint %s", l.Registry.CASHA256)
		}
		if res.report != nil {
			if res.report.Totals.Changed != 0 {
				t.Errorf("report totals.changed = %d; want 0", res.report.Totals.Changed)
			}
			for _, h := range res.report.Hosts {
				if h.Status == "changed" || h.Status == "ok" {
					t.Errorf("report host %s status = %s; want failed or not run", h.Host, h.Status)
				}
			}
		}
		if d := diffSnapshots(initial, snapshot(t, l)); len(d) > 0 {
			t.Errorf("a run with a wrong pin changed hosts:\n%s", strings.Join(d, "\n"))
		}
	})

	step("check-diff-reports-without-changing", func(t *testing.T) {
		res := c.run(t, good, "--check", "--diff", "--detailed-exitcode")
		if res.exit != 2 {
			t.Errorf("exit = %d; want 2 (changes pending)", res.exit)
		}
		if !strings.Contains(res.stdout, insecureEntry) {
			t.Errorf("--diff output lacks the daemon.json change %q", insecureEntry)
		}
		if d := diffSnapshots(initial, snapshot(t, l)); len(d) > 0 {
			t.Errorf("--check changed hosts:\n%s", strings.Join(d, "\n"))
		}
		r := res.report
		if r == nil {
			t.Fatal("no report written")
		}
		if !r.Check {
			t.Errorf("report check = false; want true")
		}
		checkTotals(t, r, 3, 0, 3)
		checkHost(t, r, "node1", "changed", map[string]string{"fetch_ca": "ok", "place_docker_cert": "changed"}, []string{})
		systemTasks := map[string]string{"fetch_ca": "ok", "place_system_cert": "changed", "daemon_json_insecure": "changed"}
		checkHost(t, r, "node2", "changed", systemTasks, []string{"update_ca", "restart_docker_if_changed"})
		// node3 runs no dockerd, so there is nothing to restart.
		checkHost(t, r, "node3", "changed", systemTasks, []string{"update_ca"})
		for _, host := range []string{"node1", "node2"} {
			if out, ok := pull(t, l, host); ok {
				t.Errorf("%s: pull after --check succeeded; want it still failing\n%s", host, out)
			}
		}
	})

	var node1PID int
	step("run-applies", func(t *testing.T) {
		var err error
		node1PID, err = l.DockerdPID("node1")
		if err != nil {
			t.Fatal(err)
		}
		node2PID, err := l.DockerdPID("node2")
		if err != nil {
			t.Fatal(err)
		}
		res := c.run(t, good, "--detailed-exitcode")
		if res.exit != 2 {
			t.Errorf("exit = %d; want 2 (changes made)", res.exit)
		}
		r := res.report
		if r == nil {
			t.Fatal("no report written")
		}
		if r.Check {
			t.Errorf("report check = true; want false")
		}
		checkTotals(t, r, 3, 0, 3)
		checkHost(t, r, "node1", "changed", map[string]string{"place_docker_cert": "changed"}, []string{})
		systemTasks := map[string]string{"place_system_cert": "changed", "daemon_json_insecure": "changed"}
		checkHost(t, r, "node2", "changed", systemTasks, []string{"update_ca", "restart_docker_if_changed"})
		checkHost(t, r, "node3", "changed", systemTasks, []string{"update_ca"})

		// node1: certs.d takes effect at the next pull, no restart.
		if out, ok := pull(t, l, "node1"); !ok {
			t.Errorf("node1: pull after run failed; want success\n%s", out)
		}
		if pid, err := l.DockerdPID("node1"); err != nil || pid != node1PID {
			t.Errorf("node1 dockerd pid = %d, %v; want %d (no restart)", pid, err, node1PID)
		}
		if n, err := l.Restarts("node1"); err != nil || n != 0 {
			t.Errorf("node1 restarts = %d, %v; want 0", n, err)
		}
		caPath := path.Join("/etc/docker/certs.d", l.Registry.Address, "ca.crt")
		if b, err := l.ReadFile("node1", caPath); err != nil || !containsCert(t, b, l.Registry.CAPEM) {
			t.Errorf("node1 %s = %q, %v; want the registry CA", caPath, b, err)
		}

		// node2: the OS trust store takes effect after one restart.
		if n, err := l.Restarts("node2"); err != nil || n != 1 {
			t.Errorf("node2 restarts = %d, %v; want 1", n, err)
		}
		if pid, err := l.DockerdPID("node2"); err != nil || pid == node2PID {
			t.Errorf("node2 dockerd pid = %d, %v; want a new dockerd, not %d", pid, err, node2PID)
		}
		if out, ok := pull(t, l, "node2"); !ok {
			t.Errorf("node2: pull after run failed; want success\n%s", out)
		}
		for _, host := range []string{"node2", "node3"} {
			anchor := "/usr/local/share/ca-certificates/regtrust-lab.crt"
			if b, err := l.ReadFile(host, anchor); err != nil || !containsCert(t, b, l.Registry.CAPEM) {
				t.Errorf("%s %s = %q, %v; want the registry CA", host, anchor, b, err)
			}
			bundle, err := l.ReadFile(host, "/etc/ssl/certs/ca-certificates.crt")
			if err != nil || !containsCert(t, bundle, l.Registry.CAPEM) {
				t.Errorf("%s: /etc/ssl/certs/ca-certificates.crt lacks the registry CA (err %v)", host, err)
			}
		}

		// daemon.json merges keep every earlier key.
		node2 := readDaemonJSON(t, l, "node2")
		for key, want := range map[string]any{"bridge": "none", "iptables": false, "storage-driver": l.StorageDriver} {
			if node2[key] != want {
				t.Errorf("node2 daemon.json %s = %v; want %v kept", key, node2[key], want)
			}
		}
		node3 := readDaemonJSON(t, l, "node3")
		if node3[node3Key] != node3Value {
			t.Errorf("node3 daemon.json %s = %v; want %q kept", node3Key, node3[node3Key], node3Value)
		}
		for host, m := range map[string]map[string]any{"node2": node2, "node3": node3} {
			if got := insecureRegistries(m); !slices.Contains(got, insecureEntry) {
				t.Errorf("%s daemon.json insecure-registries = %v; want it to contain %s", host, got, insecureEntry)
			}
		}
		if _, err := l.ReadFile("node1", "/usr/local/share/ca-certificates/regtrust-lab.crt"); err == nil {
			t.Errorf("node1 got a system trust anchor; want only certs.d on a certsd host")
		}
	})

	step("second-run-changes-nothing", func(t *testing.T) {
		before := snapshot(t, l)
		res := c.run(t, good, "--detailed-exitcode")
		if res.exit != 0 {
			t.Errorf("exit = %d; want 0 (no changes)", res.exit)
		}
		if d := diffSnapshots(before, snapshot(t, l)); len(d) > 0 {
			t.Errorf("second run changed hosts:\n%s", strings.Join(d, "\n"))
		}
		r := res.report
		if r == nil {
			t.Fatal("no report written")
		}
		checkTotals(t, r, 3, 3, 0)
		for _, h := range r.Hosts {
			if len(h.Handlers) > 0 {
				t.Errorf("%s handlers = %v; want none on a converged host", h.Host, h.Handlers)
			}
			for _, tr := range h.Tasks {
				if tr.Status != "ok" && tr.Status != "skipped" {
					t.Errorf("%s task %s status = %s; want ok or skipped", h.Host, tr.Task, tr.Status)
				}
			}
		}
		if pid, err := l.DockerdPID("node1"); err != nil || pid != node1PID {
			t.Errorf("node1 dockerd pid = %d, %v; want %d", pid, err, node1PID)
		}
		for _, host := range []string{"node1", "node2"} {
			if out, ok := pull(t, l, host); !ok {
				t.Errorf("%s: pull after second run failed\n%s", host, out)
			}
		}
	})

	step("check-on-converged-hosts", func(t *testing.T) {
		res := c.run(t, good, "--check", "--detailed-exitcode")
		if res.exit != 0 {
			t.Errorf("exit = %d; want 0 (nothing pending)", res.exit)
		}
		if res.report == nil {
			t.Fatal("no report written")
		}
		checkTotals(t, res.report, 3, 3, 0)
	})
}

func checkTotals(t *testing.T, r *report, hosts, ok, changed int) {
	t.Helper()
	got := r.Totals
	if got.Hosts != hosts || got.OK != ok || got.Changed != changed || got.Failed != 0 || got.Unreachable != 0 {
		t.Errorf("report totals = %+v; want hosts %d, ok %d, changed %d, failed 0, unreachable 0", got, hosts, ok, changed)
	}
}

// checkHost checks a host's status, the status of the named tasks, and
// that wantHandlers, unless nil, are exactly the handlers listed. An
// empty wantHandlers means no handler may be listed.
func checkHost(t *testing.T, r *report, host, status string, tasks map[string]string, wantHandlers []string) {
	t.Helper()
	h := r.host(t, host)
	if h.Status != status {
		t.Errorf("%s status = %s; want %s", host, h.Status, status)
	}
	for task, want := range tasks {
		if got := h.taskStatus(task); got != want {
			t.Errorf("%s task %s status = %s; want %s", host, task, got, want)
		}
	}
	if wantHandlers == nil {
		return
	}
	got := slices.Clone(h.Handlers)
	want := slices.Clone(wantHandlers)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("%s handlers = %v; want %v", host, h.Handlers, wantHandlers)
	}
}

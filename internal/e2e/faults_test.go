package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/regtrust/regtrust/internal/lab"
	"github.com/regtrust/regtrust/internal/lab/labtest"
	"github.com/regtrust/regtrust/internal/testpki"
)

// faultPlaybook writes ca.crt under certs.d and merges daemon.json, the
// two kinds of file a cut connection could leave half written.
const faultPlaybook = `- name: Trust the lab registry
  hosts: docker_hosts
  registries:
    lab: {address: "%s", ca_sha256: "%s"}
  tasks:
    - fetch_ca: {registry: lab}
    - place_docker_cert: {registry: lab}
    - daemon_json_insecure: {registries: ["` + insecureEntry + `"]}
      notify: restart_docker_if_changed
  handlers:
    - restart_docker_if_changed:
`

// oldDaemonJSON is each host's daemon.json before a run.
const oldDaemonJSON = "{\n  \"log-level\": \"warn\"\n}\n"

// faultLab starts sshd-only hosts and returns them with the CLI and the
// playbook file.
func faultLab(t *testing.T, hosts int) (*lab.Lab, *cli, string) {
	t.Helper()
	labtest.Require(t)
	bin := buildCLI(t)
	l := labtest.Start(t, lab.Options{Hosts: hosts})
	dir := t.TempDir()
	pb := filepath.Join(dir, "faults.yml")
	text := fmt.Sprintf(faultPlaybook, l.Registry.Address, l.Registry.CASHA256)
	if err := os.WriteFile(pb, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return l, &cli{bin: bin, lab: l, dir: dir}, pb
}

// hostFile is the machine-side path of a file under a host's
// /etc/docker.
func hostFile(t *testing.T, h *lab.Host, rel string) string {
	t.Helper()
	root := h.Mounts["/etc/docker"]
	if root == "" {
		t.Fatalf("host %s has no private /etc/docker", h.Name)
	}
	return filepath.Join(root, rel)
}

// setOldState gives every host an old CA in certs.d and an old
// daemon.json, so a run replaces both.
func setOldState(t *testing.T, l *lab.Lab, oldCA []byte) {
	t.Helper()
	for _, h := range l.Hosts {
		ca := hostFile(t, h, filepath.Join("certs.d", l.Registry.Address, "ca.crt"))
		if err := os.MkdirAll(filepath.Dir(ca), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(ca, oldCA, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(hostFile(t, h, "daemon.json"), []byte(oldDaemonJSON), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// tempFiles lists regtrust's temporary files left under a host's
// /etc/docker.
func tempFiles(t *testing.T, h *lab.Host) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(h.Mounts["/etc/docker"], func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".regtrust-tmp-") {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// killConnections kills every process below the host's sshd listener:
// the per-connection sshd processes and the commands they run. To the
// client this is a connection cut at that moment.
func killConnections(h *lab.Host) int {
	parents := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The command name in brackets may contain spaces; the
		// parent pid is the second field after its closing bracket.
		rest := string(stat[bytes.LastIndexByte(stat, ')')+1:])
		fields := strings.Fields(rest)
		if len(fields) > 1 {
			parents[pid], _ = strconv.Atoi(fields[1])
		}
	}
	killed := 0
	for pid := range parents {
		for p := parents[pid]; p > 1; p = parents[p] {
			if p == h.PID() {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					killed++
				}
				break
			}
		}
	}
	return killed
}

// startCLI starts a regtrust run without waiting for it.
func (c *cli) start(t *testing.T, playbook string, flags ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	args := append([]string{"run", playbook, "-i", c.lab.Inventory, "--known-hosts", c.lab.KnownHosts}, flags...)
	cmd := exec.CommandContext(t.Context(), c.bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, &out
}

func TestConnectionCutDuringWrite(t *testing.T) {
	l, c, pb := faultLab(t, 3)
	_, oldCA := testpki.NewCA(t, "Old Root")

	// The converged files, to tell "new" from "old" and from anything
	// else.
	setOldState(t, l, oldCA)
	if res := c.run(t, pb); res.exit != 0 {
		t.Fatalf("converging run: exit %d", res.exit)
	}
	newCA, err := os.ReadFile(hostFile(t, l.Hosts[0], filepath.Join("certs.d", l.Registry.Address, "ca.crt")))
	if err != nil {
		t.Fatal(err)
	}
	newDaemon, err := os.ReadFile(hostFile(t, l.Hosts[0], "daemon.json"))
	if err != nil {
		t.Fatal(err)
	}

	const rounds = 15
	cuts, failedRuns := 0, 0
	for round := 0; round < rounds; round++ {
		setOldState(t, l, oldCA)
		cmd, out := c.start(t, pb)
		killed := make(chan int, len(l.Hosts))
		for _, h := range l.Hosts {
			delay := time.Duration(rand.IntN(250)) * time.Millisecond
			go func() {
				time.Sleep(delay)
				killed <- killConnections(h)
			}()
		}
		for range l.Hosts {
			if <-killed > 0 {
				cuts++
			}
		}
		if cmd.Wait() != nil {
			failedRuns++
		}

		for _, h := range l.Hosts {
			ca, err := os.ReadFile(hostFile(t, h, filepath.Join("certs.d", l.Registry.Address, "ca.crt")))
			if err != nil {
				t.Fatalf("round %d, %s: ca.crt: %v\n%s", round, h.Name, err, out)
			}
			if !bytes.Equal(ca, oldCA) && !bytes.Equal(ca, newCA) {
				t.Errorf("round %d, %s: ca.crt is neither the old nor the new file:\n%s", round, h.Name, ca)
			}
			dj, err := os.ReadFile(hostFile(t, h, "daemon.json"))
			if err != nil {
				t.Fatalf("round %d, %s: daemon.json: %v", round, h.Name, err)
			}
			if string(dj) != oldDaemonJSON && !bytes.Equal(dj, newDaemon) {
				t.Errorf("round %d, %s: daemon.json is neither the old nor the new file:\n%s", round, h.Name, dj)
			}
		}

		// The next run converges and removes what the cut left.
		if res := c.run(t, pb); res.exit != 0 {
			t.Fatalf("round %d: run after the cut: exit %d\n%s", round, res.exit, res.stdout)
		}
		for _, h := range l.Hosts {
			if left := tempFiles(t, h); len(left) > 0 {
				t.Errorf("round %d, %s: temporary files left after the next run: %v", round, h.Name, left)
			}
			ca, _ := os.ReadFile(hostFile(t, h, filepath.Join("certs.d", l.Registry.Address, "ca.crt")))
			if !bytes.Equal(ca, newCA) {
				t.Errorf("round %d, %s: ca.crt not converged after the next run", round, h.Name)
			}
		}
	}
	t.Logf("%d rounds: %d hosts had connections cut, %d runs failed because of it", rounds, cuts, failedRuns)
	if failedRuns == 0 {
		t.Fatalf("no run was ever cut short; the test proved nothing")
	}
}

func TestFullDiskAndReadOnlyFolder(t *testing.T) {
	l, c, pb := faultLab(t, 3)
	_, oldCA := testpki.NewCA(t, "Old Root")
	setOldState(t, l, oldCA)
	ctx := t.Context()
	certs := "/etc/docker/certs.d/" + l.Registry.Address

	// node1: certs.d/ADDRESS is a full 16 KiB tmpfs that holds the old CA.
	full := `set -e
mount -t tmpfs -o size=16k regtrust-full "$1"
printf '%s' "$2" > "$1/ca.crt"
dd if=/dev/zero of="$1/filler" bs=4k count=100 2>/dev/null || true`
	if out, err := l.Exec(ctx, "node1", "sh", "-c", full, "full", certs, string(oldCA)); err != nil {
		t.Fatalf("fill node1: %v\n%s", err, out)
	}
	// node2: /etc/docker is read-only.
	if out, err := l.Exec(ctx, "node2", "sh", "-c", "mount --bind /etc/docker /etc/docker && mount -o remount,bind,ro /etc/docker"); err != nil {
		t.Fatalf("make node2 read-only: %v\n%s", err, out)
	}

	res := c.run(t, pb)
	if res.exit != 1 {
		t.Errorf("exit %d; want 1 (two hosts failed)", res.exit)
	}
	if res.report == nil {
		t.Fatal("no report written")
	}
	n1 := res.report.host(t, "node1")
	if n1.Status != "failed" || !strings.Contains(hostError(n1), certs) {
		t.Errorf("node1 = %s %q; want failed with an error naming %s", n1.Status, hostError(n1), certs)
	}
	if got, err := l.ReadFile("node1", certs+"/ca.crt"); err != nil || !bytes.Equal(got, oldCA) {
		t.Errorf("node1 ca.crt changed on a full disk (err %v)", err)
	}
	n2 := res.report.host(t, "node2")
	if n2.Status != "failed" || !strings.Contains(hostError(n2), "/etc/docker") {
		t.Errorf("node2 = %s %q; want failed with an error naming the read-only path", n2.Status, hostError(n2))
	}
	if got, err := l.ReadFile("node2", "/etc/docker/daemon.json"); err != nil || string(got) != oldDaemonJSON {
		t.Errorf("node2 daemon.json changed in a read-only folder: %q (err %v)", got, err)
	}
	if n3 := res.report.host(t, "node3"); n3.Status != "changed" {
		t.Errorf("node3 = %s; want changed, untouched by the other hosts' faults", n3.Status)
	}
	for _, name := range []string{"node1", "node2"} {
		out, _ := l.Exec(ctx, name, "sh", "-c", "find /etc/docker -name '*.regtrust-tmp-*'")
		if strings.TrimSpace(string(out)) != "" {
			t.Errorf("%s: temporary files left after a failed write: %s", name, out)
		}
	}
}

// hostError returns a failed host's error text: its failed task's
// message.
func hostError(h hostReport) string {
	var msgs []string
	for _, tr := range h.Tasks {
		if tr.Status == "failed" {
			msgs = append(msgs, tr.Message)
		}
	}
	return strings.Join(msgs, "; ")
}

// slowInventory adds variables that make every host's trust store
// update take a second, through a second inventory file merged over
// the lab's.
func slowInventory(t *testing.T, dir string) string {
	t.Helper()
	inv := `all:
  children:
    docker_hosts:
      vars:
        ca_trust_dir: /var/lib/regtrust/anchors
        ca_update_command: sleep 1
`
	file := filepath.Join(dir, "slow.yml")
	if err := os.WriteFile(file, []byte(inv), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

const slowPlaybook = `- hosts: docker_hosts
  registries:
    lab: {address: "%s", ca_sha256: "%s"}
  tasks:
    - fetch_ca: {registry: lab}
    - place_system_cert: {registry: lab}
      notify: update_ca
  handlers:
    - update_ca:
`

func TestInterruptStopsNewHosts(t *testing.T) {
	l, c, _ := faultLab(t, 4)
	pb := filepath.Join(c.dir, "slow-site.yml")
	os.WriteFile(pb, []byte(fmt.Sprintf(slowPlaybook, l.Registry.Address, l.Registry.CASHA256)), 0o644)
	slow := slowInventory(t, c.dir)
	report := filepath.Join(c.dir, "interrupted.json")

	cmd, out := c.start(t, pb, "-i", slow, "--forks", "1", "--report", report)
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	code := cmd.ProcessState.ExitCode()
	if code != 1 {
		t.Errorf("exit %d (%v); want 1 after one interrupt\n%s", code, err, out)
	}
	if !strings.Contains(out.String(), "interrupted") {
		t.Errorf("output does not say the run was interrupted:\n%s", out)
	}
	rep := readReport(t, report)
	notRun := 0
	for _, h := range rep.Hosts {
		if h.Status == "not_run" {
			notRun++
			anchor := filepath.Join(l.Hosts[hostNumber(t, h.Host)-1].Mounts["/var/lib/regtrust"], "anchors")
			if _, err := os.Stat(anchor); !os.IsNotExist(err) {
				t.Errorf("%s was not run but its anchors folder exists", h.Host)
			}
		}
	}
	if notRun == 0 || notRun == len(l.Hosts) {
		t.Errorf("%d of %d hosts not run; want some run and some not\n%s", notRun, len(l.Hosts), out)
	}

	// A second interrupt exits at once with 130.
	cmd, out = c.start(t, pb, "-i", slow, "--forks", "1")
	time.Sleep(700 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	time.Sleep(100 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	began := time.Now()
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit %d after two interrupts; want 130\n%s", code, out)
	}
	if waited := time.Since(began); waited > 5*time.Second {
		t.Errorf("the second interrupt took %v to end the run", waited)
	}
}

func TestHangingHostReportedUnreachable(t *testing.T) {
	l, c, pb := faultLab(t, 3)
	// A stopped sshd still completes TCP connections from its listen
	// backlog but never sends its banner: a host that accepts the
	// connection and then hangs.
	hung := l.Hosts[1]
	if err := syscall.Kill(hung.PID(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(hung.PID(), syscall.SIGCONT)

	res := c.run(t, pb, "--connect-timeout", "2s")
	if res.report == nil {
		t.Fatalf("no report\n%s", res.stdout)
	}
	h := res.report.host(t, hung.Name)
	if h.Status != "unreachable" {
		t.Errorf("%s = %s; want unreachable", hung.Name, h.Status)
	}
	for _, other := range []string{l.Hosts[0].Name, l.Hosts[2].Name} {
		if s := res.report.host(t, other).Status; s != "changed" {
			t.Errorf("%s = %s; want changed while %s hangs", other, s, hung.Name)
		}
	}
}

func readReport(t *testing.T, file string) *report {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("read report: %v", err)
	}
	var r report
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("parse report: %v\n%s", err, data)
	}
	return &r
}

func hostNumber(t *testing.T, name string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimPrefix(name, "node"))
	if err != nil {
		t.Fatalf("host name %q is not nodeN", name)
	}
	return n
}

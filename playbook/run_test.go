package playbook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regtrust/regtrust/internal/certs"
	"github.com/regtrust/regtrust/internal/sshtest"
	"github.com/regtrust/regtrust/internal/testpki"
	"github.com/regtrust/regtrust/inventory"
)

func testCAPEM(t *testing.T, cn string) (string, string) {
	t.Helper()
	cert, data := testpki.NewCA(t, cn)
	return string(data), certs.Fingerprint(cert)
}

// fleet is a set of in-process SSH servers with an inventory that points
// each host's files into a folder of its own.
type fleet struct {
	servers   []*sshtest.Server
	roots     []string
	inventory string
	known     string
	// hostTimeout is passed as Options.HostTimeout.
	hostTimeout time.Duration
	// forks, when set, limits the hosts worked on at once.
	forks int
}

func newFleet(t *testing.T, n int, extra string, opts ...sshtest.Option) *fleet {
	t.Helper()
	f := &fleet{}
	var inv strings.Builder
	inv.WriteString("all:\n  children:\n    docker_hosts:\n      hosts:\n")
	var known []byte
	for i := 0; i < n; i++ {
		srv := sshtest.NewServer(t, opts...)
		root := t.TempDir()
		f.servers = append(f.servers, srv)
		f.roots = append(f.roots, root)
		fmt.Fprintf(&inv, "        node%d:\n", i+1)
		fmt.Fprintf(&inv, "          ansible_host: 127.0.0.1\n          ansible_port: %d\n          ansible_user: %s\n", srv.Port, srv.User)
		fmt.Fprintf(&inv, "          ansible_ssh_private_key_file: %s\n", srv.ClientKeyFile)
		fmt.Fprintf(&inv, "          docker_certs_dir: %s/certs.d\n", root)
		fmt.Fprintf(&inv, "          docker_daemon_json: %s/daemon.json\n", root)
		fmt.Fprintf(&inv, "          ca_trust_dir: %s/anchors\n", root)
		fmt.Fprintf(&inv, "          ca_update_command: echo updated >> %s/updates\n", root)
		// The servers run commands on this machine, which may run the
		// dockerd of a lab that another test started. A pid file of the
		// host's own, which names no process, and these commands keep a
		// restart or reload from reaching any dockerd.
		fmt.Fprintf(&inv, "          docker_restart_command: echo restart >> %s/restarts\n", root)
		fmt.Fprintf(&inv, "          docker_reload_command: echo reload >> %s/reloads\n", root)
		fmt.Fprintf(&inv, "          docker_pidfile: %s/docker.pid\n", root)
		fmt.Fprintf(&inv, "          docker_service_manager: none\n")
		fmt.Fprintf(&inv, "          regtrust_state_dir: %s/state\n", root)
		data, err := os.ReadFile(srv.KnownHostsFile)
		if err != nil {
			t.Fatal(err)
		}
		known = append(known, data...)
	}
	inv.WriteString(extra)
	dir := t.TempDir()
	f.inventory = filepath.Join(dir, "inventory.yml")
	f.known = filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(f.inventory, []byte(inv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.known, known, 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fleet) run(t *testing.T, playbookYAML string, check bool) (*Report, string, error) {
	t.Helper()
	pb, err := Parse(filepath.Join(t.TempDir(), "site.yml"), []byte(playbookYAML))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	inv, err := inventory.Load(f.inventory)
	if err != nil {
		t.Fatalf("inventory.Load: %v", err)
	}
	var out bytes.Buffer
	rep, err := Run(context.Background(), pb, Options{
		Inventory:       inv,
		Check:           check,
		Diff:            true,
		KnownHostsFiles: []string{f.known},
		HostTimeout:     f.hostTimeout,
		Forks:           f.forks,
		Out:             &out,
	})
	return rep, out.String(), err
}

func (f *fleet) conns() int {
	n := 0
	for _, s := range f.servers {
		n += s.Conns()
	}
	return n
}

// labRegistry is the registries: section of a play with the registry
// "lab" and its CA given inline.
func labRegistry(caPEM string) string {
	indented := strings.ReplaceAll(strings.TrimSpace(caPEM), "\n", "\n        ")
	return `  registries:
    lab:
      address: registry.lab.test:5000
      ca_pem: |
        ` + indented + "\n"
}

func sitePlaybook(caPEM string) string {
	return `- name: trust the lab registry
  hosts: docker_hosts
` + labRegistry(caPEM) + `  tasks:
    - fetch_ca: {registry: lab}
    - place_docker_cert: {registry: lab}
    - place_system_cert: {registry: lab}
      notify: update_ca
    - daemon_json_insecure: {registries: ["legacy.lab.test:5000"]}
      notify: restart_docker_if_changed
  handlers:
    - update_ca:
      notify: restart_docker_if_changed
    - restart_docker_if_changed:
`
}

func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	files := map[string]string{}
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			data, _ := os.ReadFile(p)
			files[p] = fmt.Sprintf("%o %s", info.Mode().Perm(), data)
		}
		return nil
	})
	return files
}

func TestRunCheckThenApply(t *testing.T) {
	caPEM, fp := testCAPEM(t, "Lab Root")
	f := newFleet(t, 3, "")
	os.WriteFile(filepath.Join(f.roots[0], "daemon.json"), []byte("{\"log-level\": \"warn\"}\n"), 0o644)
	before := map[int]map[string]string{}
	for i, r := range f.roots {
		before[i] = snapshot(t, r)
	}
	pb := sitePlaybook(caPEM)

	rep, out, err := f.run(t, pb, true)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Changed != 3 {
		t.Errorf("check: %d hosts changed; want 3\n%s", rep.Totals.Changed, out)
	}
	for i, r := range f.roots {
		if after := snapshot(t, r); fmt.Sprint(after) != fmt.Sprint(before[i]) {
			t.Errorf("check mode changed files of node%d: before %v, after %v", i+1, before[i], after)
		}
	}
	if got := strings.Join(rep.Hosts[0].Handlers, ","); got != "update_ca" {
		t.Errorf("check: handlers that would run = %q; want update_ca (dockerd is not running here)", got)
	}
	if !strings.Contains(out, fp) {
		t.Errorf("output does not show the CA fingerprint %s:\n%s", fp, out)
	}
	if !strings.Contains(out, "ca_sha256:") {
		t.Errorf("output does not offer the pin line:\n%s", out)
	}
	if !strings.Contains(out, `+    "insecure-registries"`) && !strings.Contains(out, `"legacy.lab.test:5000"`) {
		t.Errorf("--diff output lacks the daemon.json diff:\n%s", out)
	}
	if n := f.conns(); n != 3 {
		t.Errorf("check run opened %d connections; want 3, one per host", n)
	}

	rep, out, err = f.run(t, pb, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Changed != 3 || rep.Totals.Failed != 0 {
		t.Fatalf("apply: totals %+v; want 3 changed\n%s", rep.Totals, out)
	}
	for i, r := range f.roots {
		ca, err := os.ReadFile(filepath.Join(r, "certs.d", "registry.lab.test:5000", "ca.crt"))
		if err != nil || strings.TrimSpace(string(ca)) != strings.TrimSpace(caPEM) {
			t.Errorf("node%d ca.crt = %q, %v; want the CA", i+1, ca, err)
		}
		if _, err := os.Stat(filepath.Join(r, "anchors", "regtrust-lab.crt")); err != nil {
			t.Errorf("node%d anchor: %v", i+1, err)
		}
		updates, _ := os.ReadFile(filepath.Join(r, "updates"))
		if strings.Count(string(updates), "updated") != 1 {
			t.Errorf("node%d ran the trust store update %d times; want 1", i+1, strings.Count(string(updates), "updated"))
		}
	}
	dj, _ := os.ReadFile(filepath.Join(f.roots[0], "daemon.json"))
	if !strings.Contains(string(dj), `"log-level": "warn"`) || !strings.Contains(string(dj), "legacy.lab.test:5000") {
		t.Errorf("daemon.json = %s; want the old key and the new entry", dj)
	}

	sessions := make([]int, len(f.servers))
	for i, s := range f.servers {
		sessions[i] = s.Sessions()
	}
	connsBefore := f.conns()
	rep, out, err = f.run(t, pb, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.OK != 3 {
		t.Errorf("second apply: totals %+v; want 3 ok\n%s", rep.Totals, out)
	}
	for i, s := range f.servers {
		if n := s.Sessions() - sessions[i]; n != 1 {
			t.Errorf("node%d: no-change run used %d sessions; want 1", i+1, n)
		}
	}
	if n := f.conns() - connsBefore; n != 3 {
		t.Errorf("no-change run opened %d connections; want 3", n)
	}
}

func TestRunReportJSON(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	f := newFleet(t, 1, "")
	rep, _, err := f.run(t, sitePlaybook(caPEM), false)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "report.json")
	if err := rep.WriteJSON(file); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(file)
	var got struct {
		Check bool `json:"check"`
		Hosts []struct {
			Host     string   `json:"host"`
			Status   string   `json:"status"`
			Handlers []string `json:"handlers"`
			Tasks    []struct {
				Task, Status, Message string
				Handler               bool
			} `json:"tasks"`
		} `json:"hosts"`
		Totals map[string]int `json:"totals"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, data)
	}
	if len(got.Hosts) != 1 || got.Hosts[0].Host != "node1" || got.Hosts[0].Status != "changed" {
		t.Fatalf("hosts = %+v; want node1 changed", got.Hosts)
	}
	var steps []string
	for _, ts := range got.Hosts[0].Tasks {
		steps = append(steps, ts.Task+"="+ts.Status)
	}
	want := "fetch_ca lab=ok place_docker_cert lab=changed place_system_cert lab=changed daemon_json_insecure=changed update_ca=changed restart_docker_if_changed=ok"
	if strings.Join(steps, " ") != want {
		t.Errorf("steps = %s; want %s", strings.Join(steps, " "), want)
	}
	if got.Totals["hosts"] != 1 || got.Totals["changed"] != 1 {
		t.Errorf("totals = %v; want hosts 1, changed 1", got.Totals)
	}
}

func TestRunUnreachableHostDoesNotStopOthers(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	f := newFleet(t, 2, fmt.Sprintf("        gone:\n          ansible_host: 127.0.0.1\n          ansible_port: %d\n          ansible_ssh_private_key_file: %s\n", closedPort, "/dev/null"))
	rep, out, err := f.run(t, sitePlaybook(caPEM), false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Unreachable != 1 || rep.Totals.Changed != 2 {
		t.Errorf("totals %+v; want 1 unreachable and 2 changed\n%s", rep.Totals, out)
	}
}

func TestRunPinMismatchContactsNoHost(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	_, otherFP := testCAPEM(t, "Attacker Root")
	f := newFleet(t, 2, "")
	pb := strings.Replace(sitePlaybook(caPEM), "      ca_pem: |", "      ca_sha256: \""+otherFP+"\"\n      ca_pem: |", 1)
	_, _, err := f.run(t, pb, false)
	if err == nil {
		t.Fatal("Run succeeded with a CA that does not match its pin")
	}
	if !strings.Contains(err.Error(), otherFP) {
		t.Errorf("error %q does not show the pinned fingerprint", err)
	}
	if n := f.conns(); n != 0 {
		t.Errorf("%d connections opened; want none before the pin is checked", n)
	}
}

func TestRunMissingKeyFileContactsNoHost(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	f := newFleet(t, 1, "        broken:\n          ansible_host: 127.0.0.1\n          ansible_ssh_private_key_file: /nonexistent/id_ed25519\n")
	_, _, err := f.run(t, sitePlaybook(caPEM), false)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/id_ed25519") || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("error = %v; want one naming host broken and its key file", err)
	}
	if n := f.conns(); n != 0 {
		t.Errorf("%d connections opened; want none", n)
	}
}

func TestRunUnknownHostKey(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	f := newFleet(t, 1, "")
	os.WriteFile(f.known, nil, 0o644)
	rep, out, err := f.run(t, sitePlaybook(caPEM), false)
	if err != nil {
		t.Fatal(err)
	}
	h := rep.Hosts[0]
	if h.Status != StatusUnreachable || !strings.Contains(h.Error, "ssh-keyscan") {
		t.Errorf("host = %s %q; want unreachable with the ssh-keyscan fix\n%s", h.Status, h.Error, out)
	}
	if _, err := os.Stat(filepath.Join(f.roots[0], "certs.d")); !os.IsNotExist(err) {
		t.Errorf("a host with an unknown key was changed")
	}
}

func TestRunUnreadableCAFile(t *testing.T) {
	f := newFleet(t, 1, "")
	pb := `- hosts: all
  registries:
    lab: {address: registry.lab.test, ca_file: /nonexistent/ca.pem}
  tasks:
    - place_docker_cert: {registry: lab}
`
	_, _, err := f.run(t, pb, false)
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/ca.pem") {
		t.Fatalf("error = %v; want one naming the CA file", err)
	}
	if n := f.conns(); n != 0 {
		t.Errorf("%d connections opened; want none", n)
	}
}

func TestRunHostTimeoutEndsHangingHost(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	hang := sshtest.NewServer(t, sshtest.HangAfterHandshake())
	extra := fmt.Sprintf("        hung:\n          ansible_host: 127.0.0.1\n          ansible_port: %d\n          ansible_user: %s\n          ansible_ssh_private_key_file: %s\n", hang.Port, hang.User, hang.ClientKeyFile)
	f := newFleet(t, 2, extra)
	known, err := os.ReadFile(hang.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	kf, err := os.OpenFile(f.known, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	kf.Write(known)
	kf.Close()
	f.hostTimeout = 2 * time.Second

	rep, out, err := f.run(t, sitePlaybook(caPEM), false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Changed != 2 {
		t.Errorf("totals %+v; want the 2 other hosts changed\n%s", rep.Totals, out)
	}
	var hung *HostReport
	for _, h := range rep.Hosts {
		if h.Host == "hung" {
			hung = h
		}
	}
	if hung == nil {
		t.Fatalf("no report for host hung")
	}
	if hung.Status == StatusOK || hung.Status == StatusChanged {
		t.Errorf("hung host status = %s; want failed or unreachable", hung.Status)
	}
	if !strings.Contains(hung.Error, "timed out") {
		t.Errorf("hung host error = %q; want it to say it timed out", hung.Error)
	}
}

func TestRunHostileVariablesAreQuoted(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	f := newFleet(t, 1, "")
	marker := filepath.Join(t.TempDir(), "pwned")
	hostile := filepath.Join(f.roots[0], "it's a ;dir") + "/$(touch " + marker + ")`touch " + marker + "`"
	inv, err := os.ReadFile(f.inventory)
	if err != nil {
		t.Fatal(err)
	}
	quoted, _ := json.Marshal(hostile)
	text := strings.Replace(string(inv), "docker_certs_dir: "+f.roots[0]+"/certs.d", "docker_certs_dir: "+string(quoted), 1)
	if text == string(inv) {
		t.Fatal("could not put the hostile folder into the inventory")
	}
	os.WriteFile(f.inventory, []byte(text), 0o644)

	rep, out, err := f.run(t, sitePlaybook(caPEM), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("a command hidden in a host variable ran on the host\n%s", out)
	}
	// The write either lands in the folder named literally or fails
	// with a message; it never runs the text as a command.
	ca := filepath.Join(hostile, "registry.lab.test:5000", "ca.crt")
	if _, err := os.Stat(ca); err != nil && rep.Hosts[0].Status != StatusFailed {
		t.Errorf("host %s with no ca.crt at %q; want it written there or the host failed\n%s", rep.Hosts[0].Status, ca, out)
	}
}

func TestRunFetchTimeoutEndsHangingRegistry(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// The registry accepts connections and never responds.
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	f := newFleet(t, 1, "")
	pb := fmt.Sprintf("- hosts: all\n  registries:\n    hung: {address: \"%s\"}\n  tasks:\n    - fetch_ca: {registry: hung}\n    - place_docker_cert: {registry: hung}\n", l.Addr())
	parsed, err := Parse(filepath.Join(t.TempDir(), "site.yml"), []byte(pb))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(f.inventory)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Run(context.Background(), parsed, Options{Inventory: inv, KnownHostsFiles: []string{f.known}, FetchTimeout: time.Second})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "did not complete the TLS handshake within 1s") {
			t.Errorf("error = %v; want the fetch timeout named", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run still waits for a registry that never answers")
	}
	if n := f.conns(); n != 0 {
		t.Errorf("%d host connections opened; want none", n)
	}
}

func TestRunNoHostMatchedIsAnError(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	f := newFleet(t, 1, "")
	pb, err := Parse(filepath.Join(t.TempDir(), "site.yml"), []byte(sitePlaybook(caPEM)))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(f.inventory)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), pb, Options{Inventory: inv, KnownHostsFiles: []string{f.known}, Limit: "nodee1"})
	if err == nil || !strings.Contains(err.Error(), `--limit "nodee1"`) {
		t.Errorf("error = %v; want one naming the --limit that matched nothing", err)
	}
}

func TestApplyWithoutDockerdUsesTwoSessions(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	f := newFleet(t, 1, "")
	indented := strings.ReplaceAll(strings.TrimSpace(caPEM), "\n", "\n        ")
	pb := `- hosts: docker_hosts
  registries:
    lab:
      address: registry.lab.test:5000
      ca_pem: |
        ` + indented + `
  tasks:
    - place_docker_cert: {registry: lab}
    - daemon_json_insecure: {registries: ["legacy.lab.test:5000"]}
      notify: restart_docker_if_changed
  handlers:
    - restart_docker_if_changed:
`
	before := f.servers[0].Sessions()
	rep, out, err := f.run(t, pb, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Changed != 1 {
		t.Fatalf("totals %+v; want the host changed\n%s", rep.Totals, out)
	}
	// No dockerd runs, so the restart handler is sure to do nothing and
	// is not journaled: one command gathers and one writes.
	if n := f.servers[0].Sessions() - before; n != 2 {
		t.Errorf("apply used %d sessions; want 2 (gather, write)", n)
	}
	if _, err := os.Stat(filepath.Join(f.roots[0], "state", "pending-handlers.json")); !os.IsNotExist(err) {
		t.Errorf("a journal was left on the host (stat error %v)", err)
	}
}

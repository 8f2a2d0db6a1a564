package playbook

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regtrust/regtrust/internal/testpki"
	"github.com/regtrust/regtrust/inventory"
)

// planPlaybook is sitePlaybook without the dockerd handler, whose wait
// for dockerd would need a dockerd on this machine.
func planPlaybook(caPEM string) string {
	pb := sitePlaybook(caPEM)
	pb = strings.Replace(pb, "      notify: restart_docker_if_changed\n", "", 1)
	pb = strings.Replace(pb, "      notify: restart_docker_if_changed\n    - restart_docker_if_changed:\n", "", 1)
	if strings.Contains(pb, "restart_docker") {
		panic("planPlaybook still restarts dockerd:\n" + pb)
	}
	return pb
}

// planFixture is a fleet, a playbook file and the plan a check of it
// saved.
type planFixture struct {
	fleet    *fleet
	playbook string // file
	planFile string
}

func newPlanFixture(t *testing.T, hosts int, playbookYAML string) *planFixture {
	t.Helper()
	pf := &planFixture{fleet: newFleet(t, hosts, "")}
	dir := t.TempDir()
	pf.playbook = filepath.Join(dir, "site.yml")
	pf.planFile = filepath.Join(dir, "plan.json")
	if err := os.WriteFile(pf.playbook, []byte(playbookYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	return pf
}

// run loads the playbook and inventory afresh, as the command does, and
// runs with opts.
func (pf *planFixture) run(t *testing.T, opts Options) (*Playbook, *Report, error) {
	t.Helper()
	pb, err := Load(pf.playbook)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(pf.fleet.inventory)
	if err != nil {
		t.Fatal(err)
	}
	opts.Inventory = inv
	opts.KnownHostsFiles = []string{pf.fleet.known}
	rep, err := Run(context.Background(), pb, opts)
	return pb, rep, err
}

// makePlan checks the fleet and saves the plan.
func (pf *planFixture) makePlan(t *testing.T) *Plan {
	t.Helper()
	opts := Options{Check: true}
	pb, rep, err := pf.run(t, opts)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := NewPlan(pb, []string{pf.fleet.inventory}, opts, rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := plan.Write(pf.planFile); err != nil {
		t.Fatal(err)
	}
	return plan
}

// apply reads the saved plan and applies it.
func (pf *planFixture) apply(t *testing.T) (*Report, error) {
	t.Helper()
	plan, err := ReadPlan(pf.planFile)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := Load(plan.Playbook)
	if err != nil {
		t.Fatal(err)
	}
	if err := plan.CheckPlaybook(pb); err != nil {
		return nil, err
	}
	inv, err := inventory.Load(plan.Inventories...)
	if err != nil {
		t.Fatal(err)
	}
	return Run(context.Background(), pb, Options{Inventory: inv, KnownHostsFiles: []string{pf.fleet.known}, Plan: plan})
}

func hostStatus(t *testing.T, rep *Report, host string) *HostReport {
	t.Helper()
	for _, h := range rep.Hosts {
		if h.Host == host {
			return h
		}
	}
	t.Fatalf("report has no host %s", host)
	return nil
}

func caPath(root string) string {
	return filepath.Join(root, "certs.d", "registry.lab.test:5000", "ca.crt")
}

// TestApplyRejectsChangedHost changes node2 between plan and apply: node2
// is rejected and left as it is, node1 and node3 are applied.
func TestApplyRejectsChangedHost(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	pf := newPlanFixture(t, 3, planPlaybook(caPEM))
	plan := pf.makePlan(t)
	for _, h := range plan.Hosts {
		if h.Status != StatusChanged || h.StateSHA256 == "" || h.TasksSHA256 == "" || len(h.Changes) == 0 {
			t.Errorf("plan host %+v; want changed with hashes and changes", h)
		}
	}

	node2 := caPath(pf.fleet.roots[1])
	if err := os.MkdirAll(filepath.Dir(node2), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(node2, []byte("a CA someone placed by hand\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	rep, err := pf.apply(t)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"node1", "node3"} {
		if h := hostStatus(t, rep, name); h.Status != StatusChanged {
			t.Errorf("%s status = %s (%s); want changed", name, h.Status, h.Error)
		}
	}
	h := hostStatus(t, rep, "node2")
	if h.Status != StatusFailed || !strings.Contains(h.Error, "state changed since the plan was made") {
		t.Errorf("node2 = %s %q; want failed, rejected because its state changed", h.Status, h.Error)
	}
	if len(h.Tasks) != 0 {
		t.Errorf("node2 ran %d tasks; want none", len(h.Tasks))
	}
	if data, _ := os.ReadFile(node2); string(data) != "a CA someone placed by hand\n" {
		t.Errorf("node2 ca.crt = %q; want it left as the operator wrote it", data)
	}
	if data, err := os.ReadFile(caPath(pf.fleet.roots[0])); err != nil || strings.TrimSpace(string(data)) != strings.TrimSpace(caPEM) {
		t.Errorf("node1 ca.crt = %q, %v; want the CA", data, err)
	}

	// The applied hosts now match the playbook, so applying the same plan
	// again rejects them: their state is no longer the planned one.
	rep, err = pf.apply(t)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Failed != 3 || rep.Totals.Changed != 0 {
		t.Errorf("second apply of the same plan: totals %+v; want 3 failed, 0 changed", rep.Totals)
	}
}

// TestApplyRejectsOtherChanges changes an inventory variable that the
// tasks read but the gathered state does not show: the host's planned
// changes differ, so it is rejected.
func TestApplyRejectsOtherChanges(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	pf := newPlanFixture(t, 2, planPlaybook(caPEM))
	pf.makePlan(t)

	data, err := os.ReadFile(pf.fleet.inventory)
	if err != nil {
		t.Fatal(err)
	}
	old := "ca_update_command: echo updated >> " + pf.fleet.roots[0]
	if !strings.Contains(string(data), old) {
		t.Fatalf("inventory lacks %q", old)
	}
	changed := strings.Replace(string(data), old, "ca_update_command: echo rebuilt >> "+pf.fleet.roots[0], 1)
	if err := os.WriteFile(pf.fleet.inventory, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}

	rep, err := pf.apply(t)
	if err != nil {
		t.Fatal(err)
	}
	if h := hostStatus(t, rep, "node1"); h.Status != StatusFailed || !strings.Contains(h.Error, "other changes") {
		t.Errorf("node1 = %s %q; want rejected for other changes", h.Status, h.Error)
	}
	if _, err := os.Stat(caPath(pf.fleet.roots[0])); !os.IsNotExist(err) {
		t.Errorf("rejected node1 was changed (stat ca.crt: %v)", err)
	}
	if h := hostStatus(t, rep, "node2"); h.Status != StatusChanged {
		t.Errorf("node2 = %s %q; want changed", h.Status, h.Error)
	}
}

func TestApplyRejectsHostNoLongerSelected(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	pf := newPlanFixture(t, 2, planPlaybook(caPEM))
	pf.makePlan(t)
	data, _ := os.ReadFile(pf.fleet.inventory)
	renamed := strings.Replace(string(data), "        node2:\n", "        node2b:\n", 1)
	os.WriteFile(pf.fleet.inventory, []byte(renamed), 0o644)

	rep, err := pf.apply(t)
	if err != nil {
		t.Fatal(err)
	}
	if h := hostStatus(t, rep, "node2"); h.Status != StatusFailed || !strings.Contains(h.Error, "no longer select") {
		t.Errorf("node2 = %s %q; want rejected as no longer selected", h.Status, h.Error)
	}
	if h := hostStatus(t, rep, "node1"); h.Status != StatusChanged {
		t.Errorf("node1 = %s %q; want changed", h.Status, h.Error)
	}
	for _, h := range rep.Hosts {
		if h.Host == "node2b" {
			t.Errorf("apply ran on node2b, which the plan does not name")
		}
	}
}

func TestApplyRejectsChangedPlaybook(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	pf := newPlanFixture(t, 1, planPlaybook(caPEM))
	pf.makePlan(t)
	edited := strings.Replace(planPlaybook(caPEM), "legacy.lab.test:5000", "other.lab.test:5000", 1)
	os.WriteFile(pf.playbook, []byte(edited), 0o644)

	_, err := pf.apply(t)
	if err == nil || !strings.Contains(err.Error(), "changed since the plan was made") {
		t.Fatalf("apply error = %v; want the playbook rejected as changed", err)
	}
	if n := pf.fleet.conns(); n != 1 {
		t.Errorf("%d connections in all; want 1, from the plan", n)
	}
}

// clientPlaybook trusts a registry with a CA file and a client pair.
func clientPlaybook(caFile, certFile, keyFile string) string {
	return `- hosts: docker_hosts
  registries:
    lab:
      address: registry.lab.test:5000
      ca_file: ` + caFile + `
      client_cert: ` + certFile + `
      client_key: ` + keyFile + `
  tasks:
    - place_docker_cert: {registry: lab}
`
}

func writeFile(t *testing.T, file string, data []byte) {
	t.Helper()
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestPlanHoldsNoSecret makes a plan for a registry with a client key.
// The plan must hold no part of the key, and apply must write the key it
// reads again. A changed key or CA must stop apply before any host is
// contacted.
func TestPlanHoldsNoSecret(t *testing.T) {
	dir := t.TempDir()
	_, caPEM := testpki.NewCA(t, "Lab Root")
	certPEM, keyPEM := testpki.NewClientPair(t, "ci-runner")
	caFile, certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.cert"), filepath.Join(dir, "client.key")
	writeFile(t, caFile, caPEM)
	writeFile(t, certFile, certPEM)
	writeFile(t, keyFile, keyPEM)
	pf := newPlanFixture(t, 2, clientPlaybook(caFile, certFile, keyFile))
	pf.makePlan(t)

	planText, err := os.ReadFile(pf.planFile)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(keyPEM)
	keyBase64 := base64.StdEncoding.EncodeToString(block.Bytes)
	for _, secret := range []string{"PRIVATE KEY", keyBase64[:24], keyBase64[len(keyBase64)-24:]} {
		if strings.Contains(string(planText), secret) {
			t.Errorf("plan contains %q from the client key", secret)
		}
	}
	if !strings.Contains(string(planText), sha256Hex(keyPEM)) {
		t.Errorf("plan lacks the client key's SHA-256 %s", sha256Hex(keyPEM))
	}
	if info, _ := os.Stat(pf.planFile); info.Mode().Perm() != 0o600 {
		t.Errorf("plan mode = %04o; want 0600", info.Mode().Perm())
	}

	t.Run("changed-key-stops-apply", func(t *testing.T) {
		otherCert, otherKey := testpki.NewClientPair(t, "ci-runner")
		writeFile(t, certFile, otherCert)
		writeFile(t, keyFile, otherKey)
		defer writeFile(t, certFile, certPEM)
		defer writeFile(t, keyFile, keyPEM)
		before := pf.fleet.conns()
		_, err := pf.apply(t)
		if err == nil || !strings.Contains(err.Error(), "changed since the plan was made") {
			t.Fatalf("apply error = %v; want the changed client pair rejected", err)
		}
		if n := pf.fleet.conns() - before; n != 0 {
			t.Errorf("apply opened %d connections; want none", n)
		}
	})

	t.Run("changed-ca-stops-apply", func(t *testing.T) {
		_, otherCA := testpki.NewCA(t, "Other Root")
		writeFile(t, caFile, otherCA)
		defer writeFile(t, caFile, caPEM)
		_, err := pf.apply(t)
		if err == nil || !strings.Contains(err.Error(), "the plan was made with") {
			t.Fatalf("apply error = %v; want the new CA rejected", err)
		}
	})

	t.Run("apply-writes-key", func(t *testing.T) {
		rep, err := pf.apply(t)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Totals.Changed != 2 {
			t.Fatalf("totals %+v; want 2 changed", rep.Totals)
		}
		for _, root := range pf.fleet.roots {
			got, err := os.ReadFile(filepath.Join(root, "certs.d", "registry.lab.test:5000", "client.key"))
			if err != nil || string(got) != string(keyPEM) {
				t.Errorf("client.key = %d bytes, %v; want the controller's key", len(got), err)
			}
		}
	})
}

func TestReadPlanErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content, want string
	}{
		{"not-json", "plan", "invalid plan file"},
		{"unknown-field", `{"format": 1, "surprise": true}`, `unknown field "surprise"`},
		{"other-format", `{"format": 2, "playbook": "/p.yml", "playbook_sha256": "ab", "inventories": ["/i"]}`, "format 2, but this regtrust reads format 1"},
		{"no-playbook", `{"format": 1, "inventories": ["/i"]}`, "the playbook or inventory is missing"},
		{"bad-shard", `{"format": 1, "playbook": "/p.yml", "playbook_sha256": "ab", "inventories": ["/i"], "shard": "5/2"}`, "invalid shard"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(dir, tt.name+".json")
			os.WriteFile(file, []byte(tt.content), 0o600)
			_, err := ReadPlan(file)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ReadPlan error = %v; want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := ReadPlan(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("ReadPlan of a missing file: error = %v; want one naming the file", err)
	}
}

func TestNewPlanNeedsCheck(t *testing.T) {
	_, err := NewPlan(&Playbook{File: "site.yml"}, nil, Options{}, &Report{Check: false})
	if err == nil || !strings.Contains(err.Error(), "only from --check") {
		t.Errorf("NewPlan of an apply run: error = %v; want one saying a plan needs --check", err)
	}
}

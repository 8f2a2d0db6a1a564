package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regtrust/regtrust/internal/sshtest"
	"github.com/regtrust/regtrust/internal/testpki"
)

func runCLI(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), nil, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// setup writes a playbook and an inventory for one in-process SSH host
// whose files live in a temporary folder.
func setup(t *testing.T) (playbookFile, inventoryFile, knownHosts, root string) {
	t.Helper()
	srv := sshtest.NewServer(t)
	root = t.TempDir()
	dir := t.TempDir()
	_, caPEM := testpki.NewCA(t, "CLI Root")
	inventoryFile = filepath.Join(dir, "inventory.yml")
	inv := fmt.Sprintf(`all:
  hosts:
    node1:
      ansible_host: 127.0.0.1
      ansible_port: %d
      ansible_user: %s
      ansible_ssh_private_key_file: %s
      docker_certs_dir: %s/certs.d
`, srv.Port, srv.User, srv.ClientKeyFile, root)
	if err := os.WriteFile(inventoryFile, []byte(inv), 0o644); err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	playbookFile = filepath.Join(dir, "site.yml")
	pb := `- hosts: all
  registries:
    lab: {address: "registry.lab.test:5000", ca_file: ca.pem}
  tasks:
    - place_docker_cert: {registry: lab}
`
	if err := os.WriteFile(playbookFile, []byte(pb), 0o644); err != nil {
		t.Fatal(err)
	}
	return playbookFile, inventoryFile, srv.KnownHostsFile, root
}

func TestDetailedExitCodes(t *testing.T) {
	pb, inv, known, root := setup(t)
	common := []string{"-i", inv, "--known-hosts", known, "--detailed-exitcode"}

	code, out, errOut := runCLI(append([]string{"run", pb, "--check", "--diff"}, common...)...)
	if code != 2 {
		t.Errorf("--check with pending changes: exit %d; want 2\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(root, "certs.d")); !os.IsNotExist(err) {
		t.Errorf("--check created certs.d")
	}
	if !strings.Contains(out, "CN=CLI Root") {
		t.Errorf("--diff output does not describe the CA:\n%s", out)
	}

	report := filepath.Join(t.TempDir(), "report.json")
	code, out, errOut = runCLI(append([]string{"run", pb, "--report", report}, common...)...)
	if code != 2 {
		t.Errorf("apply with changes: exit %d; want 2\n%s%s", code, out, errOut)
	}
	var rep struct {
		Totals struct{ Changed, Hosts int }
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Hosts != 1 || rep.Totals.Changed != 1 {
		t.Errorf("report totals = %+v; want 1 host, 1 changed", rep.Totals)
	}

	code, out, errOut = runCLI(append([]string{"run", pb}, common...)...)
	if code != 0 {
		t.Errorf("run with nothing to change: exit %d; want 0\n%s%s", code, out, errOut)
	}
	code, _, _ = runCLI("run", pb, "-i", inv, "--known-hosts", known)
	if code != 0 {
		t.Errorf("plain run: exit %d; want 0", code)
	}
}

func TestFailureExitCodes(t *testing.T) {
	pb, inv, _, _ := setup(t)
	empty := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(empty, nil, 0o644)

	code, _, _ := runCLI("run", pb, "-i", inv, "--known-hosts", empty, "--detailed-exitcode")
	if code != 4 {
		t.Errorf("unknown host key with --detailed-exitcode: exit %d; want 4", code)
	}
	code, _, _ = runCLI("run", pb, "-i", inv, "--known-hosts", empty)
	if code != 1 {
		t.Errorf("unknown host key: exit %d; want 1", code)
	}
}

func TestUsageErrors(t *testing.T) {
	pb, inv, _, _ := setup(t)
	bad := filepath.Join(t.TempDir(), "bad.yml")
	os.WriteFile(bad, []byte("- hosts: all\n  tasks:\n    - place_cert: {}\n"), 0o644)
	cases := []struct {
		name string
		args []string
		err  string
	}{
		{"no-command", nil, "Usage:"},
		{"unknown-command", []string{"apply-all"}, `unknown command "apply-all"`},
		{"no-playbook", []string{"run", "-i", inv}, "give exactly one playbook"},
		{"no-inventory", []string{"run", pb}, "no inventory given"},
		{"bad-forks", []string{"run", pb, "-i", inv, "--forks", "0"}, "--forks 0 must be at least 1"},
		{"bad-playbook", []string{"run", bad, "-i", inv}, bad + ":3:7: unknown task or key \"place_cert\""},
		{"missing-inventory", []string{"run", pb, "-i", "/nonexistent/inv.yml"}, "/nonexistent/inv.yml"},
		{"unknown-flag", []string{"run", pb, "-i", inv, "--chekc"}, "flag provided but not defined: -chekc"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := runCLI(c.args...)
			if code != 1 {
				t.Errorf("exit %d; want 1", code)
			}
			if !strings.Contains(errOut, c.err) {
				t.Errorf("stderr = %q; want it to contain %q (stdout %q)", errOut, c.err, out)
			}
		})
	}
}

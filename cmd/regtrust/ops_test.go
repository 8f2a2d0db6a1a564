package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regtrust/regtrust/internal/runlock"
)

func TestLockedRunExits(t *testing.T) {
	pb, inv, known, root := setup(t)
	dir := t.TempDir()
	lockFile := filepath.Join(dir, "regtrust.lock")
	report := filepath.Join(dir, "report.json")
	metrics := filepath.Join(dir, "regtrust.prom")
	held, err := runlock.Acquire(lockFile)
	if err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLI("run", pb, "-i", inv, "--known-hosts", known, "--lock", lockFile, "--report", report, "--metrics", metrics)
	if code != exitLocked {
		t.Errorf("run while the lock is held: exit %d; want %d\n%s%s", code, exitLocked, out, errOut)
	}
	if !strings.Contains(errOut, "holds it") || !strings.Contains(errOut, lockFile) {
		t.Errorf("stderr = %q; want it to name the lock file and its holder", errOut)
	}
	for _, file := range []string{report, metrics, filepath.Join(root, "certs.d")} {
		if _, err := os.Stat(file); !os.IsNotExist(err) {
			t.Errorf("a locked-out run created %s", file)
		}
	}

	held.Unlock()
	code, _, errOut = runCLI("run", pb, "-i", inv, "--known-hosts", known, "--lock", lockFile)
	if code != exitOK {
		t.Errorf("run after the lock was released: exit %d; want 0\n%s", code, errOut)
	}
}

func TestQuietRun(t *testing.T) {
	pb, inv, known, _ := setup(t)
	common := []string{"run", pb, "-i", inv, "--known-hosts", known, "--quiet"}
	code, out, errOut := runCLI(common...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, want := range []string{"CHANGES\n", "node1: place_docker_cert lab: ", "1 hosts: 0 ok, 1 changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("quiet run with a change: stdout lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "RECAP") || strings.Contains(out, "not pinned") {
		t.Errorf("quiet stdout has more than changes and totals:\n%s", out)
	}

	code, out, errOut = runCLI(common...)
	if code != 0 || out != "" || errOut != "" {
		t.Errorf("quiet run without changes: exit %d, stdout %q, stderr %q; want 0 and no output", code, out, errOut)
	}
}

func TestPlanThenApply(t *testing.T) {
	pb, inv, known, root := setup(t)
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.json")
	metrics := filepath.Join(dir, "regtrust.prom")

	code, out, errOut := runCLI("run", pb, "-i", inv, "--known-hosts", known, "--plan", plan, "--diff", "--detailed-exitcode")
	if code != exitChanges {
		t.Fatalf("run --plan: exit %d; want %d\n%s%s", code, exitChanges, out, errOut)
	}
	if !strings.Contains(out, "check mode: nothing was changed") {
		t.Errorf("--plan did not run as a check:\n%s", out)
	}
	if _, err := os.Stat(filepath.Join(root, "certs.d")); !os.IsNotExist(err) {
		t.Fatalf("--plan changed the host")
	}

	code, out, errOut = runCLI("apply", plan, "--known-hosts", known, "--detailed-exitcode", "--metrics", metrics)
	if code != exitChanges {
		t.Fatalf("apply: exit %d; want %d\n%s%s", code, exitChanges, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(root, "certs.d", "registry.lab.test:5000", "ca.crt")); err != nil {
		t.Errorf("apply did not write ca.crt: %v", err)
	}
	data, err := os.ReadFile(metrics)
	if err != nil || !strings.Contains(string(data), `regtrust_hosts{playbook="site.yml",status="changed"} 1`) {
		t.Errorf("metrics = %q, %v; want one changed host", data, err)
	}

	code, out, errOut = runCLI("apply", plan, "--known-hosts", known, "--detailed-exitcode")
	if code != exitFailures {
		t.Errorf("second apply of the plan: exit %d; want %d\n%s%s", code, exitFailures, out, errOut)
	}
	if !strings.Contains(out, "rejected: the host's state changed since the plan was made") {
		t.Errorf("second apply does not say why node1 was rejected:\n%s", out)
	}
}

func TestApplyUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"format": 1}`), 0o600)
	tests := []struct {
		name string
		args []string
		err  string
	}{
		{"no-plan", []string{"apply"}, "give exactly one plan file, got 0"},
		{"missing-plan", []string{"apply", filepath.Join(dir, "none.json")}, "none.json"},
		{"incomplete-plan", []string{"apply", bad}, "the playbook or inventory is missing"},
		{"bad-forks", []string{"apply", bad, "--forks", "0"}, "--forks 0 must be at least 1"},
		{"plan-flag-on-apply", []string{"apply", bad, "--plan", "x"}, "flag provided but not defined: -plan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(tt.args...)
			if code != exitError {
				t.Errorf("exit %d; want %d", code, exitError)
			}
			if !strings.Contains(errOut, tt.err) {
				t.Errorf("stderr = %q; want it to contain %q", errOut, tt.err)
			}
		})
	}
}

package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/regtrust/regtrust/internal/lab"
	"github.com/regtrust/regtrust/internal/lab/labtest"
	"github.com/regtrust/regtrust/internal/testpki"
)

// exitLocked is the status of a run that found --lock taken.
const exitLocked = 75

// exec runs the regtrust binary with args and returns its result.
func (c *cli) exec(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), cliTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	began := time.Now()
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(began)}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		res.exit = exitErr.ExitCode()
	default:
		t.Fatalf("run regtrust %s: %v", strings.Join(args, " "), err)
	}
	t.Logf("regtrust %s: exit %d in %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), res.exit, res.elapsed.Round(time.Millisecond), res.stdout, res.stderr)
	return res
}

// waitForFile waits until file exists. The deadline only keeps a broken
// run from hanging the test.
func waitForFile(t *testing.T, file string, done <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(cliTimeout)
	for {
		if _, err := os.Stat(file); err == nil {
			return
		}
		select {
		case <-done:
			t.Fatalf("the run exited before it created %s", file)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %v", file, cliTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestScheduledAndReviewedRuns proves three things on real sshd hosts.
// Of two overlapping runs with --lock, the second exits at once. A plan
// is applied to the hosts that did not change since it was made and
// rejected for the one that did. The metrics file of that apply parses.
func TestScheduledAndReviewedRuns(t *testing.T) {
	labtest.Require(t)
	bin := buildCLI(t)
	l := labtest.Start(t, lab.Options{Hosts: 3})
	c := &cli{bin: bin, lab: l, dir: t.TempDir()}
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	caFile := filepath.Join(c.dir, "ca.pem")
	if err := os.WriteFile(caFile, l.Registry.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}

	step("overlapping-runs-with-lock", func(t *testing.T) {
		lockFile := filepath.Join(c.dir, "regtrust.lock")
		started := filepath.Join(c.dir, "started")
		release := filepath.Join(c.dir, "release")
		// node1's trust store update waits for the test, so the first
		// run holds the lock for as long as the test needs. Hosts share
		// the machine's /tmp, so both marker files are visible to them.
		extra := filepath.Join(c.dir, "slow-update.yml")
		slow := fmt.Sprintf(`all:
  hosts:
    node1:
      ca_trust_dir: /usr/local/share/ca-certificates
      ca_update_command: "touch %s; while [ ! -e %s ]; do sleep 0.1; done; update-ca-certificates"
`, started, release)
		if err := os.WriteFile(extra, []byte(slow), 0o644); err != nil {
			t.Fatal(err)
		}
		playbook := filepath.Join(c.dir, "system.yml")
		os.WriteFile(playbook, []byte(`- hosts: node1
  registries:
    lab: {address: "`+l.Registry.Address+`", ca_file: `+caFile+`}
  tasks:
    - place_system_cert: {registry: lab}
      notify: update_ca
  handlers:
    - update_ca:
`), 0o644)
		args := []string{"run", playbook, "-i", l.Inventory, "-i", extra, "--known-hosts", l.KnownHosts, "--lock", lockFile, "--quiet"}

		first := exec.Command(c.bin, args...)
		var firstOut bytes.Buffer
		first.Stdout, first.Stderr = &firstOut, &firstOut
		if err := first.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		var firstErr error
		go func() {
			firstErr = first.Wait()
			close(done)
		}()
		t.Cleanup(func() {
			os.WriteFile(release, nil, 0o644)
			<-done
		})
		waitForFile(t, started, done)

		second := c.exec(t, args...)
		if second.exit != exitLocked {
			t.Errorf("second run while the first holds the lock: exit %d; want %d", second.exit, exitLocked)
		}
		if !strings.Contains(second.stderr, "holds it") || !strings.Contains(second.stderr, fmt.Sprintf("pid %d", first.Process.Pid)) {
			t.Errorf("second run stderr = %q; want it to name the lock's holder, pid %d", second.stderr, first.Process.Pid)
		}

		if err := os.WriteFile(release, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		<-done
		if firstErr != nil {
			t.Fatalf("first run: %v\n%s", firstErr, firstOut.String())
		}
		anchor := "/usr/local/share/ca-certificates/regtrust-lab.crt"
		if b, err := l.ReadFile("node1", anchor); err != nil || !containsCert(t, b, l.Registry.CAPEM) {
			t.Errorf("node1 %s = %q, %v; want the first run to have written the CA", anchor, b, err)
		}

		third := c.exec(t, args...)
		if third.exit != 0 || third.stdout != "" {
			t.Errorf("run after the lock was released: exit %d, stdout %q; want 0 and nothing to report", third.exit, third.stdout)
		}
	})

	step("plan-rejects-changed-host", func(t *testing.T) {
		certPEM, keyPEM := testpki.NewClientPair(t, "ci-runner")
		certFile, keyFile := filepath.Join(c.dir, "client.cert"), filepath.Join(c.dir, "client.key")
		os.WriteFile(certFile, certPEM, 0o644)
		os.WriteFile(keyFile, keyPEM, 0o600)
		playbook := filepath.Join(c.dir, "certsd.yml")
		os.WriteFile(playbook, []byte(fmt.Sprintf(`- hosts: all
  registries:
    lab:
      address: "%s"
      ca_file: %s
      ca_sha256: "%s"
      client_cert: %s
      client_key: %s
  tasks:
    - place_docker_cert: {registry: lab}
`, l.Registry.Address, caFile, l.Registry.CASHA256, certFile, keyFile)), 0o644)
		plan := filepath.Join(c.dir, "plan.json")
		metrics := filepath.Join(c.dir, "regtrust.prom")
		reportFile := filepath.Join(c.dir, "apply-report.json")

		res := c.exec(t, "run", playbook, "-i", l.Inventory, "--known-hosts", l.KnownHosts, "--plan", plan, "--diff", "--detailed-exitcode")
		if res.exit != 2 {
			t.Fatalf("run --plan: exit %d; want 2 (changes pending)", res.exit)
		}
		if !strings.Contains(res.stdout, "node[1:3] (3 hosts): place_docker_cert lab") {
			t.Errorf("plan output does not group the three hosts' change:\n%s", res.stdout)
		}
		planText, err := os.ReadFile(plan)
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(keyPEM)
		body := base64.StdEncoding.EncodeToString(block.Bytes)
		if bytes.Contains(planText, []byte("PRIVATE KEY")) || bytes.Contains(planText, []byte(body[:32])) {
			t.Errorf("the plan contains the client key")
		}

		// Someone places another CA on node2 after the review.
		caPath := path.Join("/etc/docker/certs.d", l.Registry.Address, "ca.crt")
		_, otherCA := testpki.NewCA(t, "Hand-placed Root")
		if err := l.WriteFile("node2", caPath, otherCA, 0o644); err != nil {
			t.Fatal(err)
		}

		res = c.exec(t, "apply", plan, "--known-hosts", l.KnownHosts, "--report", reportFile, "--metrics", metrics, "--detailed-exitcode")
		if res.exit != 6 {
			t.Errorf("apply: exit %d; want 6 (changes and a rejected host)", res.exit)
		}
		var rep report
		data, err := os.ReadFile(reportFile)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"node1", "node3"} {
			if h := rep.host(t, name); h.Status != "changed" {
				t.Errorf("%s status = %s; want changed", name, h.Status)
			}
			if b, err := l.ReadFile(name, caPath); err != nil || !containsCert(t, b, l.Registry.CAPEM) {
				t.Errorf("%s %s: want the registry CA (err %v)", name, caPath, err)
			}
			key, err := l.ReadFile(name, path.Join("/etc/docker/certs.d", l.Registry.Address, "client.key"))
			if err != nil || !bytes.Equal(key, keyPEM) {
				t.Errorf("%s client.key: want the controller's key (err %v)", name, err)
			}
		}
		if h := rep.host(t, "node2"); h.Status != "failed" {
			t.Errorf("node2 status = %s; want failed (rejected)", h.Status)
		}
		if !strings.Contains(res.stdout, "node2: failed: rejected: the host's state changed since the plan was made") {
			t.Errorf("apply output does not say why node2 was rejected:\n%s", res.stdout)
		}
		if b, err := l.ReadFile("node2", caPath); err != nil || !bytes.Equal(b, otherCA) {
			t.Errorf("node2 %s changed; want the hand-placed CA left alone (err %v)", caPath, err)
		}

		checkMetrics(t, metrics)
	})
}

// checkMetrics parses the metrics file of the apply with the Prometheus
// text parser and checks its values.
func checkMetrics(t *testing.T, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("parse %s: %v\n%s", file, err, data)
	}
	value := func(name, label, want string) (float64, bool) {
		for _, m := range families[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == want || label == "" {
					return m.GetGauge().GetValue(), true
				}
			}
		}
		return 0, false
	}
	tests := []struct {
		name, label, value string
		want               float64
	}{
		{"regtrust_hosts", "status", "changed", 2},
		{"regtrust_hosts", "status", "failed", 1},
		{"regtrust_hosts", "status", "unreachable", 0},
		{"regtrust_host_drift", "host", "node1", 1},
		{"regtrust_host_failed", "host", "node2", 1},
		{"regtrust_host_failed", "host", "node3", 0},
		{"regtrust_last_run_success", "", "", 0},
		{"regtrust_last_run_check_mode", "", "", 0},
	}
	for _, tt := range tests {
		got, ok := value(tt.name, tt.label, tt.value)
		if !ok {
			t.Errorf("%s{%s=%q}: no such series in\n%s", tt.name, tt.label, tt.value, data)
			continue
		}
		if got != tt.want {
			t.Errorf("%s{%s=%q} = %v; want %v", tt.name, tt.label, tt.value, got, tt.want)
		}
	}
	if f := families["regtrust_last_run_timestamp_seconds"]; f.GetType() != dto.MetricType_GAUGE {
		t.Errorf("regtrust_last_run_timestamp_seconds type = %v; want gauge", f.GetType())
	}
}

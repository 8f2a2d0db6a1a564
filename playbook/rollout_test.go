package playbook

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestBatches(t *testing.T) {
	tests := []struct {
		name   string
		serial []BatchSize
		hosts  int
		want   []int
	}{
		{"no-serial", nil, 5, []int{5}},
		{"no-hosts", []BatchSize{{Hosts: 2}}, 0, nil},
		{"one-at-a-time", []BatchSize{{Hosts: 1}}, 3, []int{1, 1, 1}},
		{"two-with-rest", []BatchSize{{Hosts: 2}}, 5, []int{2, 2, 1}},
		{"more-than-hosts", []BatchSize{{Hosts: 10}}, 3, []int{3}},
		{"percent-rounds-down", []BatchSize{{Percent: 30}}, 10, []int{3, 3, 3, 1}},
		{"percent-at-least-one", []BatchSize{{Percent: 10}}, 5, []int{1, 1, 1, 1, 1}},
		{"list-last-repeats", []BatchSize{{Hosts: 1}, {Percent: 25}, {Hosts: 3}}, 12, []int{1, 3, 3, 3, 2}},
		{"list-longer-than-needed", []BatchSize{{Hosts: 1}, {Hosts: 5}, {Hosts: 5}}, 4, []int{1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := batches(tt.serial, tt.hosts); !slices.Equal(got, tt.want) {
				t.Errorf("batches(%v, %d) = %v; want %v", tt.serial, tt.hosts, got, tt.want)
			}
		})
	}
}

func TestStopReason(t *testing.T) {
	pct := func(v float64) *float64 { return &v }
	tests := []struct {
		name         string
		play         Play
		failed, size int
		want         string
	}{
		{"no-failure", Play{Name: "p", AnyErrorsFatal: true}, 0, 3, ""},
		{"any-errors-fatal", Play{Name: "p", AnyErrorsFatal: true}, 1, 3, "1 of 3 hosts failed in batch 1 of 2 of play \"p\", which has any_errors_fatal"},
		{"above-max-fail", Play{Name: "p", MaxFailPercentage: pct(30)}, 1, 3, "more than max_fail_percentage 30"},
		{"at-max-fail", Play{Name: "p", MaxFailPercentage: pct(50)}, 1, 2, ""},
		{"zero-max-fail", Play{Name: "p", MaxFailPercentage: pct(0)}, 1, 4, "more than max_fail_percentage 0"},
		{"whole-batch-with-serial", Play{Name: "p", Serial: []BatchSize{{Hosts: 1}}}, 1, 1, "every host of batch 1 of 2 of play \"p\" failed"},
		{"some-of-batch-with-serial", Play{Name: "p", Serial: []BatchSize{{Hosts: 2}}}, 1, 2, ""},
		{"whole-batch-without-serial", Play{Name: "p"}, 2, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := stopReason(&tt.play, 0, 2, tt.failed, tt.size)
			if tt.want == "" {
				if got != "" {
					t.Errorf("stopReason = %q; want \"\"", got)
				}
				return
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("stopReason = %q; want it to contain %q", got, tt.want)
			}
		})
	}
}

func TestLoadRollout(t *testing.T) {
	pb, err := Parse("pb.yml", []byte("- hosts: all\n  serial: [1, \"25%\", 3]\n  max_fail_percentage: 20\n  any_errors_fatal: true\n  tasks: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := pb.Plays[0]
	if got := []BatchSize{{Hosts: 1}, {Percent: 25}, {Hosts: 3}}; !slices.Equal(p.Serial, got) {
		t.Errorf("serial = %v; want %v", p.Serial, got)
	}
	if p.MaxFailPercentage == nil || *p.MaxFailPercentage != 20 {
		t.Errorf("max_fail_percentage = %v; want 20", p.MaxFailPercentage)
	}
	if !p.AnyErrorsFatal {
		t.Errorf("any_errors_fatal = false; want true")
	}
	for _, c := range []struct{ name, yaml, err string }{
		{"serial-zero", "- hosts: all\n  serial: 0\n  tasks: []\n", "serial 0 must be at least 1 host"},
		{"serial-word", "- hosts: all\n  serial: many\n  tasks: []\n", "serial must be a number of hosts"},
		{"serial-percent-too-big", "- hosts: all\n  serial: 150%\n  tasks: []\n", `serial percentage "150%" must be above 0% and at most 100%`},
		{"serial-empty-list", "- hosts: all\n  serial: []\n  tasks: []\n", "serial is an empty list"},
		{"max-fail-above-100", "- hosts: all\n  max_fail_percentage: 101\n  tasks: []\n", "max_fail_percentage must be a number from 0 to 100"},
		{"any-errors-fatal-word", "- hosts: all\n  any_errors_fatal: maybe\n  tasks: []\n", "any_errors_fatal must be true or false"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("pb.yml", []byte(c.yaml))
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("error = %v; want one containing %q", err, c.err)
			}
		})
	}
}

// insecurePlaybook adds an insecure registry on every host, with the
// given play settings.
func insecurePlaybook(settings string) string {
	return "- hosts: all\n" + settings + "  tasks:\n    - daemon_json_insecure: {registries: [\"legacy.lab.test:5000\"]}\n      notify: restart_docker_if_changed\n  handlers:\n    - restart_docker_if_changed:\n"
}

func TestRolloutStopsAfterFailedBatch(t *testing.T) {
	f := newFleet(t, 3, "")
	invalid := "{\"debug\": true,,}\n"
	if err := os.WriteFile(filepath.Join(f.roots[0], "daemon.json"), []byte(invalid), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, out, err := f.run(t, insecurePlaybook("  serial: 1\n"), false)
	if err != nil {
		t.Fatal(err)
	}
	statuses := map[string]string{}
	for _, h := range rep.Hosts {
		statuses[h.Host] = h.Status
	}
	want := map[string]string{"node1": StatusFailed, "node2": StatusNotRun, "node3": StatusNotRun}
	for host, status := range want {
		if statuses[host] != status {
			t.Errorf("%s status = %s; want %s\n%s", host, statuses[host], status, out)
		}
	}
	if !strings.Contains(rep.Stopped, "every host of batch 1 of 3") {
		t.Errorf("report stopped = %q; want the failed first batch named", rep.Stopped)
	}
	if rep.Totals.NotRun != 2 || rep.Totals.Failed != 1 {
		t.Errorf("totals = %+v; want 1 failed and 2 not run", rep.Totals)
	}
	if got, _ := os.ReadFile(filepath.Join(f.roots[0], "daemon.json")); string(got) != invalid {
		t.Errorf("node1 daemon.json = %q; want it left as it was", got)
	}
	for i := 1; i < 3; i++ {
		if _, err := os.Stat(filepath.Join(f.roots[i], "daemon.json")); !os.IsNotExist(err) {
			t.Errorf("node%d daemon.json was written although its batch never ran (stat error %v)", i+1, err)
		}
		if n := f.servers[i].Conns(); n != 0 {
			t.Errorf("node%d: %d connections; want none for a host that was not run", i+1, n)
		}
	}
	if !strings.Contains(out, "node2: not_run: the rollout stopped before this host started: every host of batch 1 of 3") {
		t.Errorf("output does not say why node2 did not run:\n%s", out)
	}
}

func TestRolloutMaxFailPercentage(t *testing.T) {
	tests := []struct {
		name    string
		max     string
		notRun  int
		stopped bool
	}{
		{"above-limit-stops", "49", 2, true},
		{"at-limit-goes-on", "50", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFleet(t, 4, "")
			if err := os.WriteFile(filepath.Join(f.roots[0], "daemon.json"), []byte("[]\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			rep, out, err := f.run(t, insecurePlaybook("  serial: 2\n  max_fail_percentage: "+tt.max+"\n"), false)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Totals.NotRun != tt.notRun || rep.Totals.Failed != 1 {
				t.Errorf("totals = %+v; want 1 failed and %d not run\n%s", rep.Totals, tt.notRun, out)
			}
			if (rep.Stopped != "") != tt.stopped {
				t.Errorf("stopped = %q; want stopped %v", rep.Stopped, tt.stopped)
			}
			// node2 shares the failed batch and finishes its play.
			if _, err := os.Stat(filepath.Join(f.roots[1], "daemon.json")); err != nil {
				t.Errorf("node2 daemon.json: %v; want it written by the first batch", err)
			}
		})
	}
}

func TestRolloutAnyErrorsFatal(t *testing.T) {
	f := newFleet(t, 2, "")
	// One host at a time, so node1 fails before node2 starts.
	f.forks = 1
	if err := os.WriteFile(filepath.Join(f.roots[0], "daemon.json"), []byte(""), 0o644); err != nil {
		t.Fatal(err)
	}
	later := filepath.Join(t.TempDir(), "later.json")
	pb := insecurePlaybook("  any_errors_fatal: true\n") + `- hosts: all
  vars:
    docker_daemon_json: ` + later + `
  tasks:
    - daemon_json_insecure: {registries: ["later.lab.test:5000"]}
`
	rep, out, err := f.run(t, pb, false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rep.Stopped, "which has any_errors_fatal") {
		t.Errorf("stopped = %q; want any_errors_fatal named\n%s", rep.Stopped, out)
	}
	if _, err := os.Stat(later); !os.IsNotExist(err) {
		t.Errorf("the second play ran after the rollout stopped (stat error %v)", err)
	}
	node2 := rep.Hosts[1]
	if node2.Status != StatusNotRun || !strings.Contains(node2.Error, "the play stopped before this host started: host node1 failed") {
		t.Errorf("node2 = %s %q; want not run because node1 failed", node2.Status, node2.Error)
	}
	if n := f.servers[1].Conns(); n != 0 {
		t.Errorf("node2: %d connections; want none", n)
	}
}

func TestRolloutStopWarnsEarlierHosts(t *testing.T) {
	f := newFleet(t, 2, "")
	if err := os.WriteFile(filepath.Join(f.roots[1], "daemon.json"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	later := filepath.Join(t.TempDir(), "later.json")
	// The first play runs on node1 alone, the second on both, one at a
	// time; node2 fails there, so node1's third play never runs.
	pb := "- hosts: node1\n  tasks:\n    - daemon_json_insecure: {registries: [\"a.lab.test\"]}\n" +
		insecurePlaybook("  serial: 1\n  max_fail_percentage: 0\n") +
		"- hosts: node1\n  vars: {docker_daemon_json: " + later + "}\n  tasks:\n    - daemon_json_insecure: {registries: [\"later.lab.test:5000\"]}\n"
	rep, out, err := f.run(t, pb, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Stopped == "" {
		t.Fatalf("the rollout did not stop\n%s", out)
	}
	node1 := rep.Hosts[0]
	if node1.Status != StatusChanged || len(node1.Warnings) != 1 || !strings.Contains(node1.Warnings[0], "the rollout stopped before every play ran") {
		t.Errorf("node1 = %s %q; want changed with a warning that not every play ran", node1.Status, node1.Warnings)
	}
	if _, err := os.Stat(later); !os.IsNotExist(err) {
		t.Errorf("the third play ran after the rollout stopped (stat error %v)", err)
	}
}

func TestRolloutOneConnectionPerHost(t *testing.T) {
	f := newFleet(t, 2, "")
	pb := insecurePlaybook("  serial: 1\n") + insecurePlaybook("  serial: 1\n")
	rep, out, err := f.run(t, pb, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Changed != 2 || rep.Stopped != "" {
		t.Fatalf("totals = %+v, stopped %q; want 2 changed\n%s", rep.Totals, rep.Stopped, out)
	}
	for i, s := range f.servers {
		if n := s.Conns(); n != 1 {
			t.Errorf("node%d: %d connections; want 1 for both plays", i+1, n)
		}
	}
}

func TestJournalRunsPendingHandler(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	f := newFleet(t, 1, "")
	root := f.roots[0]
	// The inventory's update command appends to root/updates; it fails
	// while root/updates is a folder, as a broken trust store tool would.
	if err := os.Mkdir(filepath.Join(root, "updates"), 0o755); err != nil {
		t.Fatal(err)
	}
	pb := `- hosts: all
` + labRegistry(caPEM) + `  tasks:
    - place_system_cert: {registry: lab}
      notify: update_ca
  handlers:
    - update_ca:
`
	rep, out, err := f.run(t, pb, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Hosts[0].Status != StatusFailed {
		t.Fatalf("first run: status %s; want failed because the update command fails\n%s", rep.Hosts[0].Status, out)
	}
	journal := filepath.Join(root, "state", "pending-handlers.json")
	data, err := os.ReadFile(journal)
	if err != nil {
		t.Fatalf("no journal after a failed handler: %v", err)
	}
	if !strings.Contains(string(data), `"update_ca"`) {
		t.Errorf("journal = %s; want update_ca pending", data)
	}

	if err := os.Remove(filepath.Join(root, "updates")); err != nil {
		t.Fatal(err)
	}
	rep, out, err = f.run(t, pb, false)
	if err != nil {
		t.Fatal(err)
	}
	h := rep.Hosts[0]
	var steps []string
	for _, tr := range h.Tasks {
		steps = append(steps, tr.Task+"="+tr.Status)
	}
	if got := strings.Join(steps, " "); got != "place_system_cert lab=ok update_ca=changed" {
		t.Errorf("second run steps = %s; want the unchanged task and the pending handler\n%s", got, out)
	}
	if !strings.Contains(out, "pending from an earlier run") {
		t.Errorf("output does not say the handler was pending:\n%s", out)
	}
	if updates, _ := os.ReadFile(filepath.Join(root, "updates")); strings.Count(string(updates), "updated") != 1 {
		t.Errorf("update command ran %d times in the second run; want 1", strings.Count(string(updates), "updated"))
	}
	if _, err := os.Stat(journal); !os.IsNotExist(err) {
		t.Errorf("journal still exists after the pending handler succeeded (stat error %v)", err)
	}

	// A third run has nothing pending and changes nothing.
	rep, out, err = f.run(t, pb, false)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.OK != 1 {
		t.Errorf("third run totals = %+v; want 1 ok\n%s", rep.Totals, out)
	}
}

func TestJournalHandlerNotInPlaybook(t *testing.T) {
	f := newFleet(t, 1, "")
	state := filepath.Join(f.roots[0], "state")
	if err := os.MkdirAll(state, 0o755); err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(state, "pending-handlers.json")
	content := `{"version": 1, "handlers": ["flush_dns"]}`
	if err := os.WriteFile(journal, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, _, err := f.run(t, insecurePlaybook(""), false)
	if err != nil {
		t.Fatal(err)
	}
	h := rep.Hosts[0]
	if len(h.Warnings) != 1 || !strings.Contains(h.Warnings[0], "handler flush_dns was notified by an earlier run") {
		t.Errorf("warnings = %q; want one about flush_dns", h.Warnings)
	}
	data, err := os.ReadFile(journal)
	if err != nil || !strings.Contains(string(data), "flush_dns") {
		t.Errorf("journal = %q, %v; want flush_dns kept", data, err)
	}
}

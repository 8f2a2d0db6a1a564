package playbook

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// fleetReport builds a report of n hosts, node01 to nodeNN, on which
// place_docker_cert wrote the same file, the first half also changed
// daemon.json, and node03 was unreachable.
func fleetReport(n int, check bool) *Report {
	r := &Report{Check: check}
	for i := 1; i <= n; i++ {
		h := &HostReport{Host: fmt.Sprintf("node%02d", i), Status: StatusChanged, StateSHA256: "abc", Handlers: []string{}}
		if i == 3 {
			h.Status, h.Error, h.StateSHA256 = StatusUnreachable, "dial tcp 10.0.0.3:22: connection refused", ""
			h.Tasks = []TaskReport{}
			r.Hosts = append(r.Hosts, h)
			continue
		}
		h.Tasks = []TaskReport{
			{Play: "p", Task: "fetch_ca lab", Status: StatusOK, Message: "CA \"CN=Lab\", matches the pin"},
			{Play: "p", Task: "place_docker_cert lab", Status: StatusChanged,
				Message: "/etc/docker/certs.d/reg:5000/ca.crt",
				Diff:    "create /etc/docker/certs.d/reg:5000/ca.crt (mode 0644)\n    + CN=Lab"},
		}
		if i <= n/2 {
			h.Tasks = append(h.Tasks, TaskReport{Play: "p", Task: "daemon_json_insecure", Status: StatusChanged,
				Message: "add old:5000 in insecure-registries of /etc/docker/daemon.json",
				Diff:    "--- a/etc/docker/daemon.json\n+++ b/etc/docker/daemon.json\n+  \"insecure-registries\": [\"old:5000\"]"})
			h.Tasks = append(h.Tasks, TaskReport{Play: "p", Task: "restart_docker_if_changed", Handler: true, Status: StatusChanged,
				Message: "reload dockerd (insecure-registries changed)"})
		}
		r.Hosts = append(r.Hosts, h)
	}
	r.count()
	return r
}

func TestPrintChangesGroupsHosts(t *testing.T) {
	var b strings.Builder
	fleetReport(40, true).PrintChanges(&b, true)
	want := `
CHANGES (check mode: nothing was changed)
node01,node02,node[04:40] (39 hosts): place_docker_cert lab: /etc/docker/certs.d/reg:5000/ca.crt
    create /etc/docker/certs.d/reg:5000/ca.crt (mode 0644)
        + CN=Lab
node01,node02,node[04:20] (19 hosts): daemon_json_insecure: add old:5000 in insecure-registries of /etc/docker/daemon.json
    --- a/etc/docker/daemon.json
    +++ b/etc/docker/daemon.json
    +  "insecure-registries": ["old:5000"]
node01,node02,node[04:20] (19 hosts): handler restart_docker_if_changed: reload dockerd (insecure-registries changed)

FAILURES
node03: unreachable: dial tcp 10.0.0.3:22: connection refused
`
	if got := b.String(); got != want {
		t.Errorf("PrintChanges =\n%s\nwant\n%s", got, want)
	}
}

func TestPrintChanges(t *testing.T) {
	tests := []struct {
		name      string
		report    *Report
		diff      bool
		contains  []string
		excludes  []string
		wantEmpty bool
	}{
		{name: "without-diff", report: fleetReport(6, false), diff: false,
			contains: []string{"\nCHANGES\n", "node01,node02,node[04:06] (5 hosts): place_docker_cert lab"},
			excludes: []string{"check mode", "+ CN=Lab", "--- a/etc"}},
		{name: "one-host", report: fleetReport(1, true), diff: true,
			contains: []string{"node01: place_docker_cert lab: /etc/docker/certs.d/reg:5000/ca.crt\n"},
			excludes: []string{"hosts)"}},
		{name: "nothing-changed", report: &Report{Hosts: []*HostReport{{Host: "a", Status: StatusOK}}}, wantEmpty: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			tt.report.PrintChanges(&b, tt.diff)
			got := b.String()
			if tt.wantEmpty && got != "" {
				t.Errorf("PrintChanges = %q; want nothing", got)
			}
			for _, s := range tt.contains {
				if !strings.Contains(got, s) {
					t.Errorf("output lacks %q:\n%s", s, got)
				}
			}
			for _, s := range tt.excludes {
				if strings.Contains(got, s) {
					t.Errorf("output contains %q:\n%s", s, got)
				}
			}
		})
	}
}

// TestPrintChangesKeepsDifferentDiffsApart checks that two hosts with the
// same task and message but different diffs get an entry each, so no
// host's diff is shown as another's.
func TestPrintChangesKeepsDifferentDiffsApart(t *testing.T) {
	r := &Report{Hosts: []*HostReport{
		{Host: "a", Status: StatusChanged, Tasks: []TaskReport{{Task: "daemon_json_insecure", Status: StatusChanged, Message: "m", Diff: "-x\n+y"}}},
		{Host: "b", Status: StatusChanged, Tasks: []TaskReport{{Task: "daemon_json_insecure", Status: StatusChanged, Message: "m", Diff: "-z\n+y"}}},
	}}
	var b strings.Builder
	r.PrintChanges(&b, true)
	got := b.String()
	if !strings.Contains(got, "a: daemon_json_insecure: m\n    -x\n") || !strings.Contains(got, "b: daemon_json_insecure: m\n    -z\n") {
		t.Errorf("output does not show each host with its own diff:\n%s", got)
	}
}

// BenchmarkPrintChanges10000Hosts measures the closing summary of a
// check of 10,000 hosts that share two changes.
func BenchmarkPrintChanges10000Hosts(b *testing.B) {
	r := fleetReport(10_000, true)
	for b.Loop() {
		r.PrintChanges(io.Discard, true)
	}
}

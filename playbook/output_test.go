package playbook

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regtrust/regtrust/inventory"
)

// runWith runs a playbook on the fleet with opts, to which it adds the
// inventory, known_hosts and an output buffer.
func (f *fleet) runWith(t *testing.T, playbookYAML string, opts Options) (*Report, string) {
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
	opts.Inventory = inv
	opts.KnownHostsFiles = []string{f.known}
	opts.Out = &out
	rep, err := Run(context.Background(), pb, opts)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	return rep, out.String()
}

func TestRunQuiet(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	f := newFleet(t, 2, "")
	pb := planPlaybook(caPEM)

	_, out := f.runWith(t, pb, Options{Quiet: true, Diff: true, ExpiryWindow: -1})
	for _, unwanted := range []string{": ok: ", "registry lab", "ca_sha256:"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("quiet output contains %q:\n%s", unwanted, out)
		}
	}
	for _, want := range []string{"CHANGES\n", "node1: place_docker_cert lab: ", "node2: place_docker_cert lab: "} {
		if !strings.Contains(out, want) {
			t.Errorf("quiet output lacks %q:\n%s", want, out)
		}
	}

	// The test CA expires within a day, so warnings are turned off here:
	// quiet output keeps them, which the next check shows.
	rep, out := f.runWith(t, pb, Options{Quiet: true, ExpiryWindow: -1})
	if rep.Totals.OK != 2 {
		t.Fatalf("second run totals %+v; want 2 ok", rep.Totals)
	}
	if out != "" {
		t.Errorf("quiet output of a run without changes = %q; want nothing", out)
	}

	_, out = f.runWith(t, pb, Options{Quiet: true, ExpiryWindow: 400 * 24 * time.Hour})
	if !strings.Contains(out, "warning: registry lab: ") || !strings.Contains(out, "expires on") {
		t.Errorf("quiet output = %q; want the CA expiry warning, which a scheduled run must report", out)
	}
}

// recordingProgress records the calls Run makes, in order.
type recordingProgress struct {
	calls []string
}

func (p *recordingProgress) Clear() { p.calls = append(p.calls, "clear") }

func (p *recordingProgress) Update(done, total int, summary string) {
	p.calls = append(p.calls, fmt.Sprintf("update %d/%d %s", done, total, summary))
}

func TestRunProgress(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	f := newFleet(t, 3, "")
	p := &recordingProgress{}
	f.runWith(t, sitePlaybook(caPEM), Options{Progress: p, Check: true})
	want := []string{
		"clear", "update 1/3 1 changed",
		"clear", "update 2/3 2 changed",
		"clear", "update 3/3 3 changed",
		"clear",
	}
	if strings.Join(p.calls, "; ") != strings.Join(want, "; ") {
		t.Errorf("progress calls = %q; want %q", p.calls, want)
	}
}

func TestRunColor(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	f := newFleet(t, 1, "")
	tests := []struct {
		name  string
		color bool
		want  string
	}{
		{"color", true, "node1: \x1b[33mchanged\x1b[0m: place_docker_cert lab"},
		{"plain", false, "node1: changed: place_docker_cert lab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, out := f.runWith(t, sitePlaybook(caPEM), Options{Check: true, Color: tt.color})
			if !strings.Contains(out, tt.want) {
				t.Errorf("output lacks %q:\n%q", tt.want, out)
			}
			if !tt.color && strings.Contains(out, "\x1b[") {
				t.Errorf("output without colour contains an escape sequence:\n%q", out)
			}
		})
	}
}

func TestRunShard(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	f := newFleet(t, 4, "")
	seen := map[string]int{}
	for k := 0; k < 2; k++ {
		shard := inventory.Shard{Index: k, Count: 2}
		rep, _ := f.runWith(t, sitePlaybook(caPEM), Options{Check: true, Shard: shard})
		for _, h := range rep.Hosts {
			seen[h.Host]++
			if !shard.Contains(h.Host) {
				t.Errorf("shard %s ran on %s, which is not in it", shard, h.Host)
			}
		}
	}
	for _, name := range []string{"node1", "node2", "node3", "node4"} {
		if seen[name] != 1 {
			t.Errorf("%s ran in %d shards; want exactly 1", name, seen[name])
		}
	}
}

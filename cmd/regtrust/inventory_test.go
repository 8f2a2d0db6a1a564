package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeInventory writes an INI inventory of a small build farm with a
// password variable and returns its path.
func writeInventory(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "hosts.ini")
	ini := `jump.lab.example

[rack1]
node[01:04].lab.example

[rack2]
node[05:08].lab.example ansible_become_password=s3cr3t-sudo

[farm:children]
rack1
rack2
`
	if err := os.WriteFile(file, []byte(ini), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestInventoryCommand(t *testing.T) {
	inv := writeInventory(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"names", []string{"-i", inv, "--limit", "farm:!rack2"},
			"node01.lab.example\nnode02.lab.example\nnode03.lab.example\nnode04.lab.example\n"},
		{"graph-group", []string{"-i", inv, "--graph", "rack2", "--limit", "node0[56]*"},
			"@rack2:\n  |--node05.lab.example\n  |--node06.lab.example\n"},
		{"graph-all", []string{"-i", inv, "--graph", "--limit", "jump*:node01*"},
			"@all:\n  |--@farm:\n  |  |--@rack1:\n  |  |  |--node01.lab.example\n  |--@ungrouped:\n  |  |--jump.lab.example\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(append([]string{"inventory"}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d; want 0\n%s", code, errOut)
			}
			if out != tt.want {
				t.Errorf("output =\n%s\nwant\n%s", out, tt.want)
			}
		})
	}
}

func TestInventoryListRedacts(t *testing.T) {
	code, out, errOut := runCLI("inventory", "-i", writeInventory(t), "--list")
	if code != 0 {
		t.Fatalf("exit %d; want 0\n%s", code, errOut)
	}
	if strings.Contains(out, "s3cr3t-sudo") {
		t.Errorf("--list shows the become password:\n%s", out)
	}
	var doc struct {
		Meta struct {
			Hostvars map[string]map[string]any `json:"hostvars"`
		} `json:"_meta"`
		Rack2 struct {
			Hosts []string `json:"hosts"`
		} `json:"rack2"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("--list output is not JSON: %v\n%s", err, out)
	}
	if len(doc.Meta.Hostvars) != 9 {
		t.Errorf("hostvars has %d hosts; want 9", len(doc.Meta.Hostvars))
	}
	if got := doc.Meta.Hostvars["node05.lab.example"]["ansible_become_password"]; got != "<redacted>" {
		t.Errorf("node05 ansible_become_password = %v; want <redacted>", got)
	}
	if len(doc.Rack2.Hosts) != 4 {
		t.Errorf("rack2 hosts = %v; want 4", doc.Rack2.Hosts)
	}
}

// TestInventoryShardsPartition checks that the shares of --shard K/N
// together name every host exactly once.
func TestInventoryShardsPartition(t *testing.T) {
	inv := writeInventory(t)
	_, all, _ := runCLI("inventory", "-i", inv)
	var union []string
	for _, k := range []string{"0/3", "1/3", "2/3"} {
		code, out, errOut := runCLI("inventory", "-i", inv, "--shard", k)
		if code != 0 {
			t.Fatalf("--shard %s: exit %d\n%s", k, code, errOut)
		}
		union = append(union, strings.Fields(out)...)
	}
	want := strings.Fields(all)
	slices.Sort(union)
	slices.Sort(want)
	if !slices.Equal(union, want) {
		t.Errorf("shares together = %v; want every host once: %v", union, want)
	}
}

func TestInventoryUsageErrors(t *testing.T) {
	inv := writeInventory(t)
	tests := []struct {
		name string
		args []string
		err  string
	}{
		{"no-inventory", []string{"--list"}, "no inventory given"},
		{"list-and-graph", []string{"-i", inv, "--list", "--graph"}, "give --list or --graph, not both"},
		{"unknown-group", []string{"-i", inv, "--graph", "rack3"}, `graph group "rack3": not found`},
		{"argument-without-graph", []string{"-i", inv, "rack1"}, `unexpected argument "rack1"`},
		{"bad-shard", []string{"-i", inv, "--shard", "3/3"}, "K must be from 0 to 2"},
		{"bad-limit", []string{"-i", inv, "--limit", "~web("}, "invalid regular expression"},
		{"missing-file", []string{"-i", "/nonexistent/hosts.ini"}, "/nonexistent/hosts.ini"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCLI(append([]string{"inventory"}, tt.args...)...)
			if code != 1 {
				t.Errorf("exit %d; want 1", code)
			}
			if !strings.Contains(errOut, tt.err) {
				t.Errorf("stderr = %q; want it to contain %q", errOut, tt.err)
			}
		})
	}
}

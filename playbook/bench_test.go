package playbook

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/regtrust/regtrust/inventory"
)

// writeFleetInventory writes an inventory of n hosts in 10 groups, with
// the variables real inventories carry, and a key file they all use.
func writeFleetInventory(b *testing.B, n int) string {
	b.Helper()
	dir := b.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if err := os.WriteFile(key, []byte("not read by planning"), 0o600); err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	sb.WriteString("all:\n  vars:\n    ansible_user: root\n    ansible_ssh_private_key_file: " + key + "\n  children:\n")
	for g := 0; g < 10; g++ {
		fmt.Fprintf(&sb, "    rack%d:\n      hosts:\n", g)
		for i := g; i < n; i += 10 {
			fmt.Fprintf(&sb, "        node%05d.dc.example: {ansible_host: 10.%d.%d.%d, ansible_port: 22}\n", i, i>>16&255, i>>8&255, i&255)
		}
	}
	file := filepath.Join(dir, "inventory.yml")
	if err := os.WriteFile(file, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return file
}

const benchPlaybook = `- name: Trust the registry
  hosts: all:!rack9
  registries:
    lab: {address: "registry.example.com:5000", ca_pem: "unused by planning"}
  tasks:
    - place_docker_cert: {registry: lab}
    - daemon_json_insecure: {registries: ["legacy.example.com:5000"]}
      notify: restart_docker_if_changed
  handlers:
    - restart_docker_if_changed:
`

// BenchmarkPlan10000Hosts measures what a run does before it contacts
// any host: loading the inventory and playbook, selecting each play's
// hosts and checking every host's connection settings. It reports the
// heap in use after planning, in MiB.
func BenchmarkPlan10000Hosts(b *testing.B) {
	file := writeFleetInventory(b, 10_000)
	var heapMiB float64
	for b.Loop() {
		inv, err := inventory.Load(file)
		if err != nil {
			b.Fatal(err)
		}
		pb, err := Parse("site.yml", []byte(benchPlaybook))
		if err != nil {
			b.Fatal(err)
		}
		opts := &Options{Inventory: inv, KnownHostsFiles: []string{"/dev/null"}}
		plans, err := planHosts(pb, opts, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		if len(plans) != 9_000 {
			b.Fatalf("planned %d hosts; want 9000", len(plans))
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heapMiB = max(heapMiB, float64(ms.HeapInuse)/(1<<20))
		runtime.KeepAlive(plans)
	}
	b.ReportMetric(heapMiB, "heap-MiB")
}

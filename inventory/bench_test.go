package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	benchRegions      = 5
	benchRacksPerZone = 10
	benchHostsPerRack = 200 // 5 * 10 * 200 = 10,000 hosts
)

// writeBenchInventory writes a YAML inventory of 10,000 hosts: five
// regions of ten racks of 200 hosts, every rack also below docker_hosts,
// each host with its own address, and a group_vars/all.yml beside it.
func writeBenchInventory(tb testing.TB) string {
	tb.Helper()
	var b strings.Builder
	b.WriteString("all:\n  vars:\n    ansible_user: deploy\n  children:\n")
	b.WriteString("    docker_hosts:\n      vars:\n        ansible_become: true\n      children:\n")
	for r := 0; r < benchRegions*benchRacksPerZone; r++ {
		fmt.Fprintf(&b, "        rack_%02d:\n", r)
	}
	host := 0
	for region := 0; region < benchRegions; region++ {
		fmt.Fprintf(&b, "    region_%d:\n      vars:\n        region: r%d\n      children:\n", region, region)
		for rack := 0; rack < benchRacksPerZone; rack++ {
			fmt.Fprintf(&b, "        rack_%02d:\n          vars:\n            rack: %d\n          hosts:\n",
				region*benchRacksPerZone+rack, rack)
			for i := 0; i < benchHostsPerRack; i++ {
				fmt.Fprintf(&b, "            node%05d.dc.example: {ansible_host: 10.%d.%d.%d, ansible_port: 22}\n",
					host, region, rack, i+1)
				host++
			}
		}
	}

	dir := tb.TempDir()
	files := map[string]string{
		"hosts.yml":          b.String(),
		"group_vars/all.yml": "ntp_servers: [ntp1.example, ntp2.example]\n",
	}
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return filepath.Join(dir, "hosts.yml")
}

func BenchmarkLoad10000Hosts(b *testing.B) {
	path := writeBenchInventory(b)
	b.ResetTimer()
	for b.Loop() {
		inv, err := Load(path)
		if err != nil {
			b.Fatal(err)
		}
		if n := len(inv.hosts); n != 10_000 {
			b.Fatalf("loaded %d hosts; want 10000", n)
		}
	}
}

func BenchmarkSelect10000Hosts(b *testing.B) {
	inv, err := Load(writeBenchInventory(b))
	if err != nil {
		b.Fatal(err)
	}
	patterns := []struct {
		name    string
		pattern string
		want    int
	}{
		{"all", "all", 10_000},
		{"one-host", "node04321.dc.example", 1},
		{"groups-and-exclusion", "region_1:region_3:&docker_hosts:!rack_1[0-2]", 3_400},
		{"glob", "node0*", 10_000},
		{"regexp", `~node0[0-4]\d{3}\.`, 5_000},
		{"subscript", "docker_hosts[100:199]", 100},
	}
	for _, p := range patterns {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				hosts, err := inv.Select(p.pattern)
				if err != nil {
					b.Fatal(err)
				}
				if len(hosts) != p.want {
					b.Fatalf("Select(%q) = %d hosts; want %d", p.pattern, len(hosts), p.want)
				}
			}
		})
	}
}

package hostlist

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/regtrust/regtrust/inventory"
)

func names(format string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf(format, i))
	}
	return out
}

func TestCompact(t *testing.T) {
	tests := []struct {
		name  string
		names []string
		want  string
	}{
		{"empty", nil, ""},
		{"one", []string{"web1"}, "web1"},
		{"padded-forty", names("node%02d", 1, 40), "node[01:40]"},
		{"unpadded", names("node%d", 1, 12), "node[1:12]"},
		{"two-stay-names", []string{"node1", "node2"}, "node1,node2"},
		{"gap", append(names("node%02d", 1, 10), names("node%02d", 12, 40)...), "node[01:10],node[12:40]"},
		{"gap-leaves-pair", append(names("n%d", 1, 5), "n7", "n8"), "n[1:5],n7,n8"},
		{"domain-suffix", names("web%d.example.com", 8, 11), "web[8:11].example.com"},
		{"last-number-varies", names("rack2-node%d", 1, 4), "rack2-node[1:4]"},
		{"padded-start-above-nine", names("node%03d", 98, 101), "node[098:101]"},
		{"no-padding-above-nine", names("node%02d", 10, 13), "node[10:13]"},
		{"mixed-widths-kept-apart", append(names("db%d", 1, 3), names("db%03d", 1, 3)...), "db[1:3],db[001:003]"},
		{"duplicates", []string{"a1", "a2", "a3", "a2", "a1"}, "a[1:3]"},
		{"unordered-input", []string{"n3", "n1", "n2", "alpha"}, "alpha,n[1:3]"},
		{"ip-addresses", []string{"10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.20"}, "10.0.0.[11:13],10.0.0.20"},
		{"ipv6-whole", []string{"fd00::1", "fd00::2", "fd00::3"}, "fd00::1,fd00::2,fd00::3"},
		{"natural-order", []string{"node10", "node9", "web"}, "node9,node10,web"},
		{"long-digit-run", []string{"h123456789012345678901", "h123456789012345678902", "h123456789012345678903"},
			"h123456789012345678901,h123456789012345678902,h123456789012345678903"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Compact(tt.names); got != tt.want {
				t.Errorf("Compact(%v) = %q; want %q", tt.names, got, tt.want)
			}
		})
	}
}

// TestCompactExpandsBack loads each compact list as host entries of an
// INI inventory and checks that the inventory names exactly the hosts
// that were compacted.
func TestCompactExpandsBack(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	formats := []string{"node%d", "node%02d", "node%03d.lab", "r1-n%d", "web%d.example.com"}
	for round := 0; round < 40; round++ {
		seen := map[string]bool{}
		var input []string
		for range 1 + rng.IntN(60) {
			name := fmt.Sprintf(formats[rng.IntN(len(formats))], rng.IntN(130))
			if !seen[name] {
				seen[name] = true
				input = append(input, name)
			}
		}
		parts := CompactParts(input)
		file := filepath.Join(t.TempDir(), "hosts.ini")
		if err := os.WriteFile(file, []byte("[all]\n"+strings.Join(parts, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		inv, err := inventory.Load(file)
		if err != nil {
			t.Fatalf("round %d: load %v: %v", round, parts, err)
		}
		var got []string
		for _, h := range inv.Hosts() {
			got = append(got, h.Name)
		}
		slices.Sort(got)
		want := slices.Clone(input)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("round %d: %v expands to %v; want %v", round, parts, got, want)
		}
	}
}

func BenchmarkCompact(b *testing.B) {
	input := names("node%05d.example.com", 1, 10000)
	for b.Loop() {
		Compact(input)
	}
}

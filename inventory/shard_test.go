package inventory

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseShard(t *testing.T) {
	tests := []struct {
		name, in string
		want     Shard
		err      string
	}{
		{"first-of-four", "0/4", Shard{0, 4}, ""},
		{"last-of-four", "3/4", Shard{3, 4}, ""},
		{"one-share", "0/1", Shard{0, 1}, ""},
		{"spaces", " 1 / 2 ", Shard{1, 2}, ""},
		{"index-too-high", "4/4", Shard{}, "K must be from 0 to 3"},
		{"negative-index", "-1/4", Shard{}, "K must be from 0 to 3"},
		{"zero-count", "0/0", Shard{}, "N must be from 1 to 10000"},
		{"no-slash", "3", Shard{}, "write K/N"},
		{"letters", "a/b", Shard{}, "write K/N"},
		{"empty", "", Shard{}, "write K/N"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseShard(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("ParseShard(%q) error = %v; want one containing %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseShard(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseShard(%q) = %+v; want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func shardHostNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("node%05d.dc1.example.com", i+1)
	}
	return out
}

// TestShardBalance checks that each share gets close to its fair part of
// 10,000 hosts. The bound of 15% is far above the spread a good hash
// gives (about 3% for 4 shares), and far below a broken one's.
func TestShardBalance(t *testing.T) {
	names := shardHostNames(10_000)
	for _, count := range []int{2, 3, 4, 7, 16} {
		t.Run(fmt.Sprintf("%d-shares", count), func(t *testing.T) {
			sizes := make([]int, count)
			for _, n := range names {
				sizes[ShardOf(n, count)]++
			}
			fair := float64(len(names)) / float64(count)
			for k, size := range sizes {
				if dev := (float64(size) - fair) / fair; dev > 0.15 || dev < -0.15 {
					t.Errorf("share %d of %d has %d hosts; want within 15%% of %.0f", k, count, size, fair)
				}
			}
		})
	}
}

// TestShardMovesFew checks the property that makes shards stable: going
// from N to N+1 shares moves about one host in N+1, and every host that
// moves goes to the new share.
func TestShardMovesFew(t *testing.T) {
	names := shardHostNames(10_000)
	for _, count := range []int{1, 3, 4, 8} {
		t.Run(fmt.Sprintf("%d-to-%d", count, count+1), func(t *testing.T) {
			moved := 0
			for _, n := range names {
				before, after := ShardOf(n, count), ShardOf(n, count+1)
				if before == after {
					continue
				}
				moved++
				if after != count {
					t.Fatalf("%s moved from share %d to %d; want only moves to the new share %d", n, before, after, count)
				}
			}
			expected := float64(len(names)) / float64(count+1)
			if f := float64(moved) / expected; f < 0.8 || f > 1.2 {
				t.Errorf("%d hosts moved; want about %.0f", moved, expected)
			}
		})
	}
}

func TestSelectShardPartitions(t *testing.T) {
	dir := writeFiles(t, map[string]string{"hosts.ini": "[web]\nweb[01:60]\n[db]\ndb[1:9]\n"})
	inv := mustLoad(t, filepath.Join(dir, "hosts.ini"))
	all := inv.Hosts()
	const count = 4
	seen := map[string]int{}
	for k := 0; k < count; k++ {
		for _, h := range SelectShard(all, Shard{Index: k, Count: count}) {
			seen[h.Name]++
		}
	}
	for _, h := range all {
		if seen[h.Name] != 1 {
			t.Errorf("%s is in %d shares; want exactly 1", h.Name, seen[h.Name])
		}
	}
	if got := len(SelectShard(all, Shard{})); got != len(all) {
		t.Errorf("zero Shard selects %d hosts; want all %d", got, len(all))
	}
}

func BenchmarkShardOf(b *testing.B) {
	names := shardHostNames(1000)
	for b.Loop() {
		for _, n := range names {
			ShardOf(n, 16)
		}
	}
}

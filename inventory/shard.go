package inventory

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// maxShards bounds N in --shard K/N. Choosing a shard costs N hashes per
// host, and no fleet is split across more controllers than this.
const maxShards = 10_000

// Shard is one of Count shares of a set of hosts, numbered from 0. The
// zero value selects every host.
type Shard struct {
	Index int
	Count int
}

// ParseShard reads "K/N": share K of N, with K from 0 to N-1, the form
// that a Kubernetes indexed Job's JOB_COMPLETION_INDEX fills in.
func ParseShard(s string) (Shard, error) {
	k, n, ok := strings.Cut(s, "/")
	index, err1 := strconv.Atoi(strings.TrimSpace(k))
	count, err2 := strconv.Atoi(strings.TrimSpace(n))
	if !ok || err1 != nil || err2 != nil {
		return Shard{}, fmt.Errorf("invalid shard %q: write K/N, such as 0/4 for the first of four shares", s)
	}
	if count < 1 || count > maxShards {
		return Shard{}, fmt.Errorf("invalid shard %q: N must be from 1 to %d", s, maxShards)
	}
	if index < 0 || index >= count {
		return Shard{}, fmt.Errorf("invalid shard %q: K must be from 0 to %d, because shares are numbered from 0", s, count-1)
	}
	return Shard{Index: index, Count: count}, nil
}

// String returns the shard as K/N, or "" for the zero value.
func (s Shard) String() string {
	if s.Count == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Contains reports whether the host name falls into the shard. The
// choice depends only on the name and Count (rendezvous hashing: the
// host goes to the share whose hash with the name is highest), so adding
// or removing hosts never moves another host, and going from N to N+1
// shares moves only about one host in N+1.
func (s Shard) Contains(name string) bool {
	if s.Count <= 1 {
		return true
	}
	return ShardOf(name, s.Count) == s.Index
}

// ShardOf returns the share, from 0 to count-1, that the host name falls
// into when hosts are split into count shares.
func ShardOf(name string, count int) int {
	h := fnv.New64a()
	h.Write([]byte(name))
	base := h.Sum64()
	best, bestScore := 0, uint64(0)
	for k := 0; k < count; k++ {
		score := mix64(base ^ mix64(uint64(k)+1))
		if k == 0 || score > bestScore {
			best, bestScore = k, score
		}
	}
	return best
}

// mix64 is the finalizer of the SplitMix64 generator, which spreads every
// input bit over the whole output, so that close inputs score far apart.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// SelectShard returns the hosts of hosts that fall into shard, in their
// order.
func SelectShard(hosts []*Host, shard Shard) []*Host {
	if shard.Count <= 1 {
		return hosts
	}
	var out []*Host
	for _, h := range hosts {
		if shard.Contains(h.Name) {
			out = append(out, h)
		}
	}
	return out
}

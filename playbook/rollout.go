package playbook

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/sourcegraph/conc/pool"
	"gopkg.in/yaml.v3"
)

// BatchSize is one entry of a play's serial: a number of hosts, or a
// percentage of the play's hosts when Percent is above zero.
type BatchSize struct {
	Hosts   int
	Percent float64
}

func (b BatchSize) String() string {
	if b.Percent > 0 {
		return strconv.FormatFloat(b.Percent, 'g', -1, 64) + "%"
	}
	return strconv.Itoa(b.Hosts)
}

// batches splits n hosts into consecutive batch sizes as Ansible does:
// the entries of serial in turn, the last one repeated until every host
// has a batch. A percentage is of n, rounded down, and at least 1. Without
// serial, one batch holds every host.
func batches(serial []BatchSize, n int) []int {
	if n == 0 {
		return nil
	}
	if len(serial) == 0 {
		return []int{n}
	}
	total := n
	var sizes []int
	for i := 0; n > 0; i++ {
		b := serial[min(i, len(serial)-1)]
		size := b.Hosts
		if b.Percent > 0 {
			size = max(1, int(math.Floor(b.Percent*float64(total)/100)))
		}
		size = min(size, n)
		sizes = append(sizes, size)
		n -= size
	}
	return sizes
}

// rollout reads a play's serial, max_fail_percentage and
// any_errors_fatal.
func (l *loader) rollout(fields map[string]*yaml.Node, p *Play) error {
	if n := fields["serial"]; n != nil {
		items := []*yaml.Node{n}
		if n.Kind == yaml.SequenceNode {
			items = n.Content
			if len(items) == 0 {
				return l.errorAt(n, "serial is an empty list; give batch sizes such as [1, 25%%, 100%%]")
			}
		}
		for _, item := range items {
			b, err := parseBatchSize(item)
			if err != nil {
				return l.errorAt(item, "%v", err)
			}
			p.Serial = append(p.Serial, b)
		}
	}
	if n := fields["max_fail_percentage"]; n != nil {
		v, err := strconv.ParseFloat(strings.TrimSuffix(n.Value, "%"), 64)
		if n.Kind != yaml.ScalarNode || err != nil || v < 0 || v > 100 {
			return l.errorAt(n, "max_fail_percentage must be a number from 0 to 100, not %s", kindName(n))
		}
		p.MaxFailPercentage = &v
	}
	if n := fields["any_errors_fatal"]; n != nil {
		value := ""
		if n.Kind == yaml.ScalarNode {
			value = strings.ToLower(n.Value)
		}
		switch value {
		case "true", "yes", "on":
			p.AnyErrorsFatal = true
		case "false", "no", "off":
		default:
			return l.errorAt(n, "any_errors_fatal must be true or false, not %s", kindName(n))
		}
	}
	return nil
}

func parseBatchSize(n *yaml.Node) (BatchSize, error) {
	fail := fmt.Errorf("serial must be a number of hosts such as 2, a percentage such as 25%%, or a list of them, not %s", kindName(n))
	if n.Kind != yaml.ScalarNode {
		return BatchSize{}, fail
	}
	if pct, ok := strings.CutSuffix(strings.TrimSpace(n.Value), "%"); ok {
		v, err := strconv.ParseFloat(pct, 64)
		if err != nil || v <= 0 || v > 100 {
			return BatchSize{}, fmt.Errorf("serial percentage %q must be above 0%% and at most 100%%", n.Value)
		}
		return BatchSize{Percent: v}, nil
	}
	v, err := strconv.Atoi(n.Value)
	if err != nil {
		return BatchSize{}, fail
	}
	if v < 1 {
		return BatchSize{}, fmt.Errorf("serial %d must be at least 1 host", v)
	}
	return BatchSize{Hosts: v}, nil
}

// needsRollout reports whether pb runs as a rollout, play by play in
// batches, instead of each host running all its plays at once.
func needsRollout(pb *Playbook) bool {
	for _, p := range pb.Plays {
		if p.Serial != nil || p.MaxFailPercentage != nil || p.AnyErrorsFatal {
			return true
		}
	}
	return false
}

// stopReason returns why the rollout stops after a batch of play p, or
// "" to go on. failed counts the batch's hosts that failed or were
// unreachable.
func stopReason(p *Play, batch, batches, failed, size int) string {
	if failed == 0 {
		return ""
	}
	where := fmt.Sprintf("batch %d of %d of play %q", batch+1, batches, p.Name)
	switch {
	case p.AnyErrorsFatal:
		return fmt.Sprintf("%d of %d hosts failed in %s, which has any_errors_fatal", failed, size, where)
	case p.MaxFailPercentage != nil && float64(failed)*100/float64(size) > *p.MaxFailPercentage:
		return fmt.Sprintf("%d of %d hosts failed in %s, more than max_fail_percentage %g", failed, size, where, *p.MaxFailPercentage)
	case p.Serial != nil && failed == size:
		return fmt.Sprintf("every host of %s failed", where)
	}
	return ""
}

// rollout runs the playbook play by play. Each play's hosts run in the
// batches its serial gives, and a batch starts when the one before it has
// finished. The rollout stops after a batch that stopReason rejects, or
// when the run is interrupted. Hosts keep their connection and Target
// from play to play.
func (r *runner) rollout(ctx context.Context, pb *Playbook) {
	for _, play := range pb.Plays {
		var hosts []*hostRun
		for _, h := range r.hosts {
			if !h.done && h.selects(play) {
				hosts = append(hosts, h)
			}
		}
		sizes := batches(play.Serial, len(hosts))
		for i, size := range sizes {
			batch := hosts[:size]
			hosts = hosts[size:]
			if reason := r.interrupted(ctx); reason != "" {
				r.stopped = reason
				return
			}
			failed := r.runBatch(ctx, play, batch)
			if reason := stopReason(play, i, len(sizes), failed, size); reason != "" {
				r.stopped = reason
				return
			}
		}
	}
}

// runBatch runs play on the batch's hosts at once, up to the run's forks,
// and returns how many of them failed or were unreachable.
func (r *runner) runBatch(ctx context.Context, play *Play, batch []*hostRun) int {
	var (
		mu     sync.Mutex
		failed int
		abort  string
	)
	stop := func() string {
		mu.Lock()
		defer mu.Unlock()
		return abort
	}
	fail := func(h *hostRun) {
		mu.Lock()
		defer mu.Unlock()
		failed++
		if play.AnyErrorsFatal && abort == "" {
			abort = fmt.Sprintf("host %s failed in play %q, which has any_errors_fatal", h.report.Host, play.Name)
		}
	}
	p := pool.New().WithMaxGoroutines(r.forks)
	for _, h := range batch {
		p.Go(func() {
			if reason := stop(); reason != "" && !h.started {
				h.notRun("the play stopped before this host started: " + reason)
				r.display.hostDone(h.report)
				return
			}
			ctx, done := h.bound(ctx, r.opts.HostTimeout)
			ok := (h.started || h.start(ctx, r.conns, r.apply)) && h.runPlay(ctx, play, stop)
			done()
			switch {
			case !ok || h.done:
				fail(h)
				h.finish(ctx)
				r.display.hostDone(h.report)
			case h.lastPlay(play):
				h.finish(ctx)
				r.display.hostDone(h.report)
			}
		})
	}
	p.Wait()
	return failed
}

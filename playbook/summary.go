package playbook

import (
	"fmt"
	"io"
	"strings"

	"github.com/regtrust/regtrust/internal/hostlist"
)

// changeGroup is one change, or one failure, and the hosts it happened
// on, in report order.
type changeGroup struct {
	heading string // the task label and message, or the status and error
	detail  string // the diff, shown with --diff
	hosts   []string
}

// groupBy collects the hosts under the key that each of them produces,
// keeping keys in the order of their first host.
type groupBy struct {
	order  []string
	groups map[string]*changeGroup
}

func (g *groupBy) add(key, heading, detail, host string) {
	if g.groups == nil {
		g.groups = map[string]*changeGroup{}
	}
	cg := g.groups[key]
	if cg == nil {
		cg = &changeGroup{heading: heading, detail: detail}
		g.groups[key] = cg
		g.order = append(g.order, key)
	}
	cg.hosts = append(cg.hosts, host)
}

func (g *groupBy) list() []*changeGroup {
	out := make([]*changeGroup, len(g.order))
	for i, k := range g.order {
		out[i] = g.groups[k]
	}
	return out
}

// PrintChanges prints every change of the run once, under the compacted
// list of hosts that it happened on (or, in check mode, would happen
// on), and then every failure the same way. Hosts whose change has the
// same task, message and diff share one entry, so a change to forty
// hosts reads as "node[01:40] (40 hosts): ..." once. With diff, each
// entry shows its diff. It prints nothing when nothing changed or
// failed.
func (r *Report) PrintChanges(w io.Writer, diff bool) {
	var changes, failures groupBy
	for _, h := range r.Hosts {
		for _, t := range h.Tasks {
			if t.Status != StatusChanged {
				continue
			}
			label := t.Task
			if t.Handler {
				label = "handler " + label
			}
			heading := label
			if t.Message != "" {
				heading += ": " + t.Message
			}
			key := strings.Join([]string{t.Play, label, t.Message, t.Diff}, "\x00")
			changes.add(key, heading, t.Diff, h.Host)
		}
		if h.Status == StatusFailed || h.Status == StatusUnreachable || h.Status == StatusNotRun {
			heading := h.Status
			if h.Error != "" {
				heading += ": " + h.Error
			}
			failures.add(heading, heading, "", h.Host)
		}
	}

	var b strings.Builder
	if len(changes.order) > 0 {
		title := "CHANGES"
		if r.Check {
			title += " (check mode: nothing was changed)"
		}
		fmt.Fprintf(&b, "\n%s\n", title)
		for _, cg := range changes.list() {
			fmt.Fprintf(&b, "%s: %s\n", describeHosts(cg.hosts), cg.heading)
			if diff && cg.detail != "" {
				for _, line := range strings.Split(strings.TrimRight(cg.detail, "\n"), "\n") {
					fmt.Fprintf(&b, "    %s\n", line)
				}
			}
		}
	}
	if len(failures.order) > 0 {
		b.WriteString("\nFAILURES\n")
		for _, cg := range failures.list() {
			fmt.Fprintf(&b, "%s: %s\n", describeHosts(cg.hosts), cg.heading)
		}
	}
	io.WriteString(w, b.String())
}

// describeHosts returns one host's name, or the compact list of several
// with their number, as in "node[01:40] (40 hosts)".
func describeHosts(hosts []string) string {
	if len(hosts) == 1 {
		return hosts[0]
	}
	return fmt.Sprintf("%s (%d hosts)", hostlist.Compact(hosts), len(hosts))
}

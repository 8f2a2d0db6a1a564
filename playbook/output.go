package playbook

import (
	"fmt"
	"io"
	"strings"
	"sync"
)

// Progress shows how many hosts of a run are done. Run calls it with its
// output serialized: Clear before it writes to Out, and Update after
// each finished host.
type Progress interface {
	Clear()
	Update(done, total int, summary string)
}

// display writes each finished host's lines and keeps the progress up to
// date. Hosts finish concurrently, so its methods hold a lock.
type display struct {
	mu    sync.Mutex
	out   io.Writer
	opts  *Options
	total int
	done  int
	// counts of finished hosts by status
	counts map[string]int
}

func (d *display) hostDone(hr *HostReport) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.opts.Progress != nil {
		d.opts.Progress.Clear()
	}
	if !d.opts.Quiet {
		printHost(d.out, hr, d.opts.Color)
	}
	d.done++
	if d.counts == nil {
		d.counts = map[string]int{}
	}
	d.counts[hr.Status]++
	if d.opts.Progress != nil {
		d.opts.Progress.Update(d.done, d.total, d.summary())
	}
}

// summary counts the finished hosts that changed or failed, such as "3
// changed, 1 unreachable".
func (d *display) summary() string {
	var parts []string
	for _, status := range []string{StatusChanged, StatusFailed, StatusUnreachable} {
		if n := d.counts[status]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, status))
		}
	}
	return strings.Join(parts, ", ")
}

// finish removes the progress line before the run's closing output.
func (d *display) finish() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.opts.Progress != nil {
		d.opts.Progress.Clear()
	}
}

// statusColors are the ANSI SGR colours of statuses: green for ok, yellow
// for changed, red for failed and unreachable, cyan for skipped.
var statusColors = map[string]string{
	StatusOK:          "32",
	StatusChanged:     "33",
	StatusFailed:      "31",
	StatusUnreachable: "31",
	StatusSkipped:     "36",
}

// paint returns status in its colour when color is true.
func paint(status string, color bool) string {
	code, ok := statusColors[status]
	if !color || !ok {
		return status
	}
	return "\x1b[" + code + "m" + status + "\x1b[0m"
}

package playbook

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/regtrust/regtrust/internal/atomicfile"
)

// Statuses of tasks and hosts in a report.
const (
	StatusOK          = "ok"
	StatusChanged     = "changed"
	StatusFailed      = "failed"
	StatusSkipped     = "skipped"
	StatusUnreachable = "unreachable"
	// StatusNotRun marks a host that the run never started, because it
	// was cancelled first or the rollout stopped before its batch.
	StatusNotRun = "not_run"
)

// Report is the outcome of a run, as printed and as written by --report.
type Report struct {
	Check    bool      `json:"check"`
	Started  time.Time `json:"started"`
	Duration float64   `json:"duration_seconds"`
	// Warnings are problems found before any host was contacted that
	// did not stop the run, such as a CA that expires soon, each
	// naming its registry.
	Warnings []string      `json:"warnings"`
	Hosts    []*HostReport `json:"hosts"`
	Totals   Totals        `json:"totals"`
	// Stopped is the reason a rollout stopped before every batch ran, or
	// "".
	Stopped string `json:"stopped,omitempty"`
}

// HostReport is the outcome of a run on one host.
type HostReport struct {
	Host   string `json:"host"`
	Status string `json:"status"`
	// Error is the reason the host failed or was unreachable.
	Error string `json:"error,omitempty"`
	// StateSHA256 is the hash of the host's state as gathered before any
	// task ran; a plan records it, and apply compares it.
	StateSHA256 string       `json:"state_sha256,omitempty"`
	Tasks       []TaskReport `json:"tasks"`
	// Handlers lists the handlers that ran, or in check mode would run.
	Handlers []string `json:"handlers"`
	// Warnings are facts about the host that did not fail it, such as
	// plays that a stopped rollout did not run.
	Warnings []string `json:"warnings,omitempty"`
}

// TaskReport is the outcome of one task or handler on one host.
type TaskReport struct {
	Play    string `json:"play"`
	Task    string `json:"task"`
	Handler bool   `json:"handler,omitempty"`
	Status  string `json:"status"`
	Message string `json:"message,omitempty"`
	Diff    string `json:"diff,omitempty"`
}

// Totals counts hosts by status, and the tasks and handlers that changed
// something (or would, in check mode) on any host.
type Totals struct {
	Hosts       int `json:"hosts"`
	Changes     int `json:"changes"`
	OK          int `json:"ok"`
	Changed     int `json:"changed"`
	Failed      int `json:"failed"`
	Unreachable int `json:"unreachable"`
	NotRun      int `json:"not_run"`
}

func (r *Report) count() {
	r.Totals = Totals{Hosts: len(r.Hosts)}
	for _, h := range r.Hosts {
		for _, t := range h.Tasks {
			if t.Status == StatusChanged {
				r.Totals.Changes++
			}
		}
		switch h.Status {
		case StatusOK:
			r.Totals.OK++
		case StatusChanged:
			r.Totals.Changed++
		case StatusFailed:
			r.Totals.Failed++
		case StatusUnreachable:
			r.Totals.Unreachable++
		case StatusNotRun:
			r.Totals.NotRun++
		}
	}
}

// WriteJSON writes the report to file atomically, so that a reader never
// sees half a report.
func (r *Report) WriteJSON(file string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("save report: %w", err)
	}
	if err := atomicfile.Write(file, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("save report: %w", err)
	}
	return nil
}

// printHost prints a line per task of a host, and the host's error
// when no task line shows it. Diffs are left to PrintChanges, which
// shows each one once for all the hosts it applies to.
func printHost(w io.Writer, h *HostReport, color bool) {
	var b strings.Builder
	for _, t := range h.Tasks {
		label := t.Task
		if t.Handler {
			label = "handler " + label
		}
		fmt.Fprintf(&b, "%s: %s: %s", h.Host, paint(t.Status, color), label)
		if t.Message != "" {
			fmt.Fprintf(&b, ": %s", t.Message)
		}
		b.WriteByte('\n')
	}
	if h.Error != "" && (len(h.Tasks) == 0 || h.Status == StatusUnreachable || h.Status == StatusNotRun || !taskShows(h, h.Error)) {
		fmt.Fprintf(&b, "%s: %s: %s\n", h.Host, paint(h.Status, color), h.Error)
	}
	for _, warning := range h.Warnings {
		fmt.Fprintf(&b, "%s: warning: %s\n", h.Host, warning)
	}
	io.WriteString(w, b.String())
}

// taskShows reports whether a failed task line of h already shows the
// error.
func taskShows(h *HostReport, err string) bool {
	for _, t := range h.Tasks {
		if t.Status == StatusFailed && strings.HasSuffix(err, t.Message) {
			return true
		}
	}
	return false
}

// PrintRecap prints a table with a row per host and the totals.
func (r *Report) PrintRecap(w io.Writer) {
	fmt.Fprintln(w)
	title := "RECAP"
	if r.Check {
		title += " (check mode: nothing was changed)"
	}
	fmt.Fprintln(w, title)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tSTATUS\tOK\tCHANGED\tFAILED\tSKIPPED\tHANDLERS")
	for _, h := range r.Hosts {
		var n = map[string]int{}
		for _, t := range h.Tasks {
			n[t.Status]++
		}
		handlers := strings.Join(h.Handlers, ",")
		if handlers == "" {
			handlers = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", h.Host, h.Status, n[StatusOK], n[StatusChanged], n[StatusFailed], n[StatusSkipped], handlers)
	}
	tw.Flush()
	r.PrintTotals(w)
}

// PrintTotals prints one line with the number of hosts by status and the
// run's duration.
func (r *Report) PrintTotals(w io.Writer) {
	t := r.Totals
	fmt.Fprintf(w, "%d hosts: %d ok, %d changed, %d failed, %d unreachable", t.Hosts, t.OK, t.Changed, t.Failed, t.Unreachable)
	if t.NotRun > 0 {
		fmt.Fprintf(w, ", %d not run", t.NotRun)
	}
	fmt.Fprintf(w, " in %.1fs\n", r.Duration)
	if r.Stopped != "" {
		fmt.Fprintf(w, "the rollout stopped: %s\n", r.Stopped)
	}
}

package playbook

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/regtrust/regtrust/internal/atomicfile"
)

// Names and help texts of the metrics that every metrics file has.
const (
	timestampMetric = "regtrust_last_run_timestamp_seconds"
	timestampHelp   = "Time the last run finished, in seconds since the Unix epoch."
	successMetric   = "regtrust_last_run_success"
	successHelp     = "1 when the last run started and every host ended ok or changed, else 0."
)

// metricsWriter builds a file in the Prometheus text exposition format
// (version 0.0.4), which node_exporter's textfile collector reads. Every
// series carries the playbook label, so that the files of several
// playbooks on one controller do not collide.
type metricsWriter struct {
	b        strings.Builder
	playbook string
}

// family starts a metric family with its HELP and TYPE lines.
func (m *metricsWriter) family(name, help string) {
	fmt.Fprintf(&m.b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
}

// sample writes one series; labels are name and value pairs.
func (m *metricsWriter) sample(name string, value float64, labels ...string) {
	m.b.WriteString(name)
	m.b.WriteString(`{playbook="` + escapeLabel(m.playbook) + `"`)
	for i := 0; i+1 < len(labels); i += 2 {
		m.b.WriteString("," + labels[i] + `="` + escapeLabel(labels[i+1]) + `"`)
	}
	fmt.Fprintf(&m.b, "} %s\n", formatValue(value))
}

// labelEscaper escapes a label value as the text format requires:
// backslash, double quote and line feed.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string {
	return labelEscaper.Replace(s)
}

func formatValue(v float64) string {
	return fmt.Sprintf("%g", v)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Metrics returns the run's metrics in the Prometheus text format: when
// the run finished, how long it took, whether it succeeded, hosts by
// status, and per host the changes found (drift) and whether it failed.
// A host whose state was never read (unreachable, not run, or failed
// while gathering) has no drift series, because its drift is unknown.
// playbook is the playbook's file name, used as a label.
func (r *Report) Metrics(playbook string) []byte {
	m := &metricsWriter{playbook: filepath.Base(playbook)}
	finished := r.Started.Add(time.Duration(r.Duration * float64(time.Second)))
	t := r.Totals
	failed := t.Failed+t.Unreachable+t.NotRun > 0

	m.family(timestampMetric, timestampHelp)
	m.sample(timestampMetric, float64(finished.UnixMilli())/1000)
	m.family("regtrust_last_run_duration_seconds", "Time the last run took, in seconds.")
	m.sample("regtrust_last_run_duration_seconds", r.Duration)
	m.family(successMetric, successHelp)
	m.sample(successMetric, boolValue(!failed))
	m.family("regtrust_last_run_check_mode", "1 when the last run was a check that changed nothing, else 0.")
	m.sample("regtrust_last_run_check_mode", boolValue(r.Check))

	m.family("regtrust_hosts", "Hosts of the last run by status.")
	for _, s := range []struct {
		status string
		n      int
	}{{StatusOK, t.OK}, {StatusChanged, t.Changed}, {StatusFailed, t.Failed}, {StatusUnreachable, t.Unreachable}, {StatusNotRun, t.NotRun}} {
		m.sample("regtrust_hosts", float64(s.n), "status", s.status)
	}

	m.family("regtrust_host_drift", "Changes the last run found on the host: made, or pending in check mode.")
	for _, h := range r.Hosts {
		if h.StateSHA256 == "" {
			continue
		}
		n := 0
		for _, tr := range h.Tasks {
			if tr.Status == StatusChanged {
				n++
			}
		}
		m.sample("regtrust_host_drift", float64(n), "host", h.Host)
	}
	m.family("regtrust_host_failed", "1 when the host failed, was unreachable or was not run in the last run, else 0.")
	for _, h := range r.Hosts {
		bad := h.Status == StatusFailed || h.Status == StatusUnreachable || h.Status == StatusNotRun
		m.sample("regtrust_host_failed", boolValue(bad), "host", h.Host)
	}
	return []byte(m.b.String())
}

// WriteMetrics writes the run's metrics to file atomically, so that the
// textfile collector never reads half a file.
func (r *Report) WriteMetrics(file, playbook string) error {
	if err := atomicfile.Write(file, r.Metrics(playbook), 0o644); err != nil {
		return fmt.Errorf("save metrics: %w", err)
	}
	return nil
}

// WriteStartFailureMetrics records a run that stopped before it
// contacted any host, such as one with an invalid playbook, so that an
// alert on regtrust_last_run_success fires for it too.
func WriteStartFailureMetrics(file, playbook string, at time.Time) error {
	m := &metricsWriter{playbook: filepath.Base(playbook)}
	m.family(timestampMetric, timestampHelp)
	m.sample(timestampMetric, float64(at.UnixMilli())/1000)
	m.family(successMetric, successHelp)
	m.sample(successMetric, 0)
	if err := atomicfile.Write(file, []byte(m.b.String()), 0o644); err != nil {
		return fmt.Errorf("save metrics: %w", err)
	}
	return nil
}

package playbook

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parseMetrics parses text with the parser that Prometheus and
// node_exporter use, with the strict legacy rules for metric names.
func parseMetrics(t *testing.T, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("parse metrics: %v\n%s", err, text)
	}
	return families
}

// gauge returns the value of the series of name whose labels include
// every pair in labels.
func gauge(t *testing.T, families map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	f, ok := families[name]
	if !ok {
		return 0, false
	}
	if f.GetType() != dto.MetricType_GAUGE {
		t.Errorf("%s has type %s; want gauge", name, f.GetType())
	}
next:
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if got[k] != v {
				continue next
			}
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}

func TestMetricsParseBack(t *testing.T) {
	r := fleetReport(6, true)
	r.Started = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	r.Duration = 2.5
	// A host name with characters that label values must escape.
	r.Hosts = append(r.Hosts, &HostReport{Host: "odd\"name\\x", Status: StatusOK, StateSHA256: "abc", Tasks: []TaskReport{}})
	r.count()

	families := parseMetrics(t, r.Metrics("/etc/regtrust/site.yml"))
	pb := map[string]string{"playbook": "site.yml"}
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"regtrust_last_run_timestamp_seconds", pb, 1772366402.5},
		{"regtrust_last_run_duration_seconds", pb, 2.5},
		{"regtrust_last_run_success", pb, 0},
		{"regtrust_last_run_check_mode", pb, 1},
		{"regtrust_hosts", map[string]string{"status": "ok"}, 1},
		{"regtrust_hosts", map[string]string{"status": "changed"}, 5},
		{"regtrust_hosts", map[string]string{"status": "failed"}, 0},
		{"regtrust_hosts", map[string]string{"status": "unreachable"}, 1},
		{"regtrust_host_drift", map[string]string{"host": "node01"}, 3},
		{"regtrust_host_drift", map[string]string{"host": "node06"}, 1},
		{"regtrust_host_drift", map[string]string{"host": "odd\"name\\x"}, 0},
		{"regtrust_host_failed", map[string]string{"host": "node03"}, 1},
		{"regtrust_host_failed", map[string]string{"host": "node01"}, 0},
	}
	for _, tt := range tests {
		got, ok := gauge(t, families, tt.name, tt.labels)
		if !ok {
			t.Errorf("%s%v: no such series", tt.name, tt.labels)
			continue
		}
		if got != tt.want {
			t.Errorf("%s%v = %v; want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	if _, ok := gauge(t, families, "regtrust_host_drift", map[string]string{"host": "node03"}); ok {
		t.Errorf("unreachable node03 has a drift series; want none, because its drift is unknown")
	}
}

func TestWriteMetricsAtomically(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "regtrust.prom")
	r := fleetReport(2, false)
	if err := r.WriteMetrics(file, "site.yml"); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	families := parseMetrics(t, data)
	if got, _ := gauge(t, families, "regtrust_hosts", map[string]string{"status": "changed"}); got != 2 {
		t.Errorf("regtrust_hosts{status=changed} = %v; want 2", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("folder has %d entries; want only regtrust.prom", len(entries))
	}
}

func TestStartFailureMetrics(t *testing.T) {
	file := filepath.Join(t.TempDir(), "regtrust.prom")
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := WriteStartFailureMetrics(file, "site.yml", at); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	families := parseMetrics(t, data)
	if got, ok := gauge(t, families, "regtrust_last_run_success", nil); !ok || got != 0 {
		t.Errorf("regtrust_last_run_success = %v (present %v); want 0", got, ok)
	}
	if got, _ := gauge(t, families, "regtrust_last_run_timestamp_seconds", nil); got != float64(at.Unix()) {
		t.Errorf("regtrust_last_run_timestamp_seconds = %v; want %d", got, at.Unix())
	}
}

func BenchmarkMetrics10000Hosts(b *testing.B) {
	r := fleetReport(10_000, false)
	for b.Loop() {
		r.Metrics("site.yml")
	}
}

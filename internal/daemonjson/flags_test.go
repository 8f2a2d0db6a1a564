package daemonjson

import (
	"slices"
	"strings"
	"testing"
)

func TestSetFlags(t *testing.T) {
	tests := []struct {
		name string
		args string
		want []string
	}{
		{"debian-unit", "-H fd:// --containerd=/run/containerd/containerd.sock", []string{"host", "containerd"}},
		{"value-after-space", "--insecure-registry legacy.lab:5000 --debug", []string{"insecure-registry", "debug"}},
		{"value-after-equals", "--insecure-registry=legacy.lab:5000", []string{"insecure-registry"}},
		{"bool-with-value", "--iptables=false", []string{"iptables"}},
		{"short-cluster", "-Dl debug", []string{"debug", "log-level"}},
		{"short-with-attached-value", "-Hunix:///run/docker.sock -D", []string{"host", "debug"}},
		{"repeated", "--label a=1 --label b=2", []string{"label"}},
		{"stops-at-double-dash", "--debug -- --label x", []string{"debug"}},
		{"values-are-not-flags", "--log-opt max-size=10m --storage-driver overlay2", []string{"log-opt", "storage-driver"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SetFlags(strings.Fields(tt.args))
			if !slices.Equal(got, tt.want) {
				t.Errorf("SetFlags(%q) = %q; want %q", tt.args, got, tt.want)
			}
		})
	}
}

func TestFlagKeys(t *testing.T) {
	tests := []struct {
		flag string
		want []string
	}{
		{"insecure-registry", []string{"insecure-registries"}},
		{"registry-mirror", []string{"registry-mirrors"}},
		{"label", []string{"labels"}},
		{"host", []string{"hosts"}},
		{"debug", []string{"debug"}},
		{"storage-driver", []string{"storage-driver"}},
		{"add-runtime", nil},
		{"config-file", nil},
	}
	for _, tt := range tests {
		if got := FlagKeys(tt.flag); !slices.Equal(got, tt.want) {
			t.Errorf("FlagKeys(%q) = %q; want %q", tt.flag, got, tt.want)
		}
	}
}

func TestConflicts(t *testing.T) {
	running := FlagSource{Where: "command line of the running dockerd (pid 42)", Args: strings.Fields("-H fd:// --insecure-registry=a.lan:5000")}
	unit := FlagSource{Where: "ExecStart in /etc/systemd/system/docker.service.d/override.conf", Args: strings.Fields("-H fd:// --insecure-registry b.lan --debug")}
	tests := []struct {
		name    string
		keys    []string
		sources []FlagSource
		want    []string
	}{
		{
			name:    "insecure-in-both-places",
			keys:    []string{"insecure-registries", "storage-driver"},
			sources: []FlagSource{running, unit},
			want: []string{
				`daemon.json key "insecure-registries" is also set by flag --insecure-registry (command line of the running dockerd (pid 42); ExecStart in /etc/systemd/system/docker.service.d/override.conf)`,
			},
		},
		{
			name:    "hosts-and-debug",
			keys:    []string{"debug", "hosts"},
			sources: []FlagSource{unit},
			want: []string{
				`daemon.json key "debug" is also set by flag --debug (ExecStart in /etc/systemd/system/docker.service.d/override.conf)`,
				`daemon.json key "hosts" is also set by flag --host (ExecStart in /etc/systemd/system/docker.service.d/override.conf)`,
			},
		},
		{
			name:    "no-conflict",
			keys:    []string{"insecure-registries"},
			sources: []FlagSource{{Where: "x", Args: strings.Fields("-H fd:// --containerd=/run/c.sock")}},
			want:    nil,
		},
		{
			name:    "runtimes-merge",
			keys:    []string{"runtimes"},
			sources: []FlagSource{{Where: "x", Args: strings.Fields("--add-runtime crun=/usr/bin/crun")}},
			want:    nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, c := range Conflicts(tt.keys, tt.sources) {
				got = append(got, c.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Conflicts =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestReloadable(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"insecure-registries", true},
		{"registry-mirrors", true},
		{"debug", true},
		{"live-restore", true},
		{"storage-driver", false},
		{"data-root", false},
		{"hosts", false},
	}
	for _, tt := range tests {
		if got := Reloadable(tt.key); got != tt.want {
			t.Errorf("Reloadable(%q) = %v; want %v", tt.key, got, tt.want)
		}
	}
}

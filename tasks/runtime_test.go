package tasks

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/regtrust/regtrust/internal/certs"
)

// twoCARegistry is a registry whose CA file held two roots.
func twoCARegistry(t *testing.T) *Registry {
	t.Helper()
	first, second := testCA(t, "First Root"), testCA(t, "Second Root")
	reg := testRegistry(t)
	reg.CAs = []certs.CA{*first, *second}
	reg.CA = &reg.CAs[0]
	return reg
}

func TestPlaceDockerCertRuntimes(t *testing.T) {
	reg := twoCARegistry(t)
	bundle := string(reg.CAs[0].PEM) + string(reg.CAs[1].PEM)
	tests := []struct {
		name    string
		runtime string
		dirVar  string
		// wantDir is the registry's folder below the test's root.
		wantDir string
	}{
		{name: "docker-default-var", runtime: "", dirVar: "docker_certs_dir"},
		{name: "docker-snap", runtime: "docker-snap", dirVar: "docker_certs_dir"},
		{name: "podman", runtime: "podman", dirVar: "containers_certs_dir"},
		{name: "crio", runtime: "crio", dirVar: "containers_certs_dir"},
		{name: "containerd", runtime: "containerd", dirVar: "containerd_certs_dir"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			vars := mapVars{tt.dirVar: root}
			if tt.runtime != "" {
				vars[runtimeVar] = tt.runtime
			}
			task := buildTask(t, PlaceDockerCertName, "{registry: lab}", reg)
			res, _ := convergeTask(t, task, vars, &localConn{}, true)
			if !res.Changed {
				t.Errorf("Changed = false; want true")
			}
			got, err := os.ReadFile(filepath.Join(root, reg.Address, "ca.crt"))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != bundle {
				t.Errorf("ca.crt = %q; want both CAs in order %q", got, bundle)
			}
			_, err = os.Stat(filepath.Join(root, reg.Address, "hosts.toml"))
			if hasTOML := err == nil; hasTOML != (tt.runtime == "containerd") {
				t.Errorf("hosts.toml exists = %v; want %v", hasTOML, tt.runtime == "containerd")
			}
		})
	}
}

func TestPlaceDockerCertRootless(t *testing.T) {
	reg := testRegistry(t)
	tests := []struct {
		name       string
		xdg        string
		home       string
		wantFolder string
	}{
		{name: "xdg-config-home", xdg: "xdg", home: "home", wantFolder: "xdg/docker/certs.d"},
		{name: "home-config", xdg: "", home: "home", wantFolder: "home/.config/docker/certs.d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			xdg := ""
			if tt.xdg != "" {
				xdg = filepath.Join(root, tt.xdg)
			}
			t.Setenv("XDG_CONFIG_HOME", xdg)
			t.Setenv("HOME", filepath.Join(root, tt.home))
			task := buildTask(t, PlaceDockerCertName, "{registry: lab}", reg)
			vars := mapVars{runtimeVar: "docker-rootless"}
			conn := &localConn{}
			res, _ := convergeTask(t, task, vars, conn, true)
			want := filepath.Join(root, tt.wantFolder, reg.Address, "ca.crt")
			if !strings.Contains(res.Message, want) {
				t.Errorf("message = %q; want it to name %s", res.Message, want)
			}
			if got, err := os.ReadFile(want); err != nil || !bytes.Equal(got, reg.CA.PEM) {
				t.Errorf("%s = %q, %v; want the CA", want, got, err)
			}
			res, _ = convergeTask(t, task, vars, conn, true)
			if res.Changed {
				t.Errorf("second run Changed = true; want false (%s)", res.Message)
			}
		})
	}
}

func TestPlaceDockerCertRootlessRelativeFolder(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "relative/config")
	task := buildTask(t, PlaceDockerCertName, "{registry: lab}", testRegistry(t))
	tg := NewTarget("node1", mapVars{runtimeVar: "docker-rootless"}, &localConn{}, true)
	if err := tg.Gather(context.Background(), task.Probes(tg)); err != nil {
		t.Fatalf("Gather: %v", err)
	}
	_, err := task.CheckApply(context.Background(), tg, true)
	if err == nil || !strings.Contains(err.Error(), `"relative/config/docker/certs.d", not an absolute path`) {
		t.Errorf("CheckApply error = %v; want one naming the relative folder", err)
	}
}

func TestPlaceDockerCertUnknownRuntime(t *testing.T) {
	task := buildTask(t, PlaceDockerCertName, "{registry: lab}", testRegistry(t))
	tg := NewTarget("node1", mapVars{runtimeVar: "rkt"}, &localConn{}, false)
	_, err := task.CheckApply(context.Background(), tg, false)
	want := `invalid container_runtime "rkt": use one of docker, docker-rootless, docker-snap, containerd, podman, crio`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v; want %q", err, want)
	}
}

func TestContainerdHostsTOML(t *testing.T) {
	reg := testRegistry(t)
	url := "https://" + reg.Address
	tests := []struct {
		name     string
		existing string // "" means no file
		// wantKept is text of the old file that must stay.
		wantKept string
		wantErr  string
		// wantServer is the server key after the run.
		wantServer string
	}{
		{name: "new-file", wantServer: url},
		{
			name:       "merge-keeps-comments-and-hosts",
			existing:   "# mirror first\nserver = \"https://upstream.example\"\n\n[host.\"https://mirror.example\"]\n  capabilities = [\"pull\"]\n",
			wantKept:   "# mirror first",
			wantServer: "https://upstream.example",
		},
		{
			name:       "merge-adds-missing-server",
			existing:   "[host.\"https://mirror.example\"]\n  capabilities = [\"pull\"]",
			wantKept:   "https://mirror.example",
			wantServer: url,
		},
		{
			name:     "conflicting-table-rejected",
			existing: "[host.\"" + url + "\"]\n  ca = \"/somewhere/else.crt\"\n",
			wantErr:  "already has a [host.\"" + url + "\"] table with ca = /somewhere/else.crt",
		},
		{
			name:     "invalid-toml-rejected",
			existing: "server = [unclosed\n",
			wantErr:  "is not valid TOML, so regtrust cannot merge into it",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			folder := filepath.Join(root, reg.Address)
			hostsPath := filepath.Join(folder, "hosts.toml")
			if tt.existing != "" {
				if err := os.MkdirAll(folder, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(hostsPath, []byte(tt.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			vars := mapVars{runtimeVar: "containerd", "containerd_certs_dir": root}
			task := buildTask(t, PlaceDockerCertName, "{registry: lab}", reg)
			tg := NewTarget("node1", vars, &localConn{}, true)
			ctx := context.Background()
			if err := tg.Gather(ctx, task.Probes(tg)); err != nil {
				t.Fatal(err)
			}
			res, err := task.CheckApply(ctx, tg, true)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v; want it to contain %q", err, tt.wantErr)
				}
				if got, _ := os.ReadFile(hostsPath); string(got) != tt.existing {
					t.Errorf("hosts.toml = %q after a rejected merge; want it unchanged", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("CheckApply: %v", err)
			}
			if err := tg.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(res.Diff, "+++ b/") {
				t.Errorf("diff %q does not show hosts.toml as a unified diff", res.Diff)
			}
			data, err := os.ReadFile(hostsPath)
			if err != nil {
				t.Fatal(err)
			}
			var parsed struct {
				Server string `toml:"server"`
				Host   map[string]struct {
					CA string `toml:"ca"`
				} `toml:"host"`
			}
			if err := toml.Unmarshal(data, &parsed); err != nil {
				t.Fatalf("parse hosts.toml back: %v\n%s", err, data)
			}
			if parsed.Server != tt.wantServer {
				t.Errorf("server = %q; want %q", parsed.Server, tt.wantServer)
			}
			if want := filepath.Join(folder, "ca.crt"); parsed.Host[url].CA != want {
				t.Errorf("host.%q.ca = %q; want %q\n%s", url, parsed.Host[url].CA, want, data)
			}
			if !strings.Contains(string(data), tt.wantKept) {
				t.Errorf("hosts.toml lost %q:\n%s", tt.wantKept, data)
			}
			res, _ = convergeTask(t, task, vars, &localConn{}, true)
			if res.Changed {
				t.Errorf("second run Changed = true; want false (%s)", res.Message)
			}
		})
	}
}

func TestPlaceSystemCertSeveralCAs(t *testing.T) {
	anchors := t.TempDir()
	vars := mapVars{"ca_trust_dir": anchors, "ca_update_command": "true"}
	reg := twoCARegistry(t)
	task := buildTask(t, PlaceSystemCertName, "{registry: lab}", reg)
	convergeTask(t, task, vars, &localConn{}, true)
	for i, name := range []string{"regtrust-lab.crt", "regtrust-lab+2.crt"} {
		got, err := os.ReadFile(filepath.Join(anchors, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, reg.CAs[i].PEM) {
			t.Errorf("%s = %q; want CA %d alone", name, got, i+1)
		}
	}

	reg.CAs = reg.CAs[:1]
	res, _ := convergeTask(t, task, vars, &localConn{}, false)
	stale := filepath.Join(anchors, "regtrust-lab+2.crt")
	if !res.Changed || !strings.Contains(res.Message, "remove "+stale) {
		t.Errorf("check with one CA left: Changed %v, message %q; want the removal of %s", res.Changed, res.Message, stale)
	}
	if _, err := os.Stat(stale); err != nil {
		t.Errorf("check mode removed %s: %v", stale, err)
	}
	convergeTask(t, task, vars, &localConn{}, true)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("%s still exists after apply (stat error %v)", stale, err)
	}
}

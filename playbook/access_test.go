package playbook

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/regtrust/regtrust/internal/secret"
	"github.com/regtrust/regtrust/internal/sshconfig"
	"github.com/regtrust/regtrust/internal/sshtest"
	"github.com/regtrust/regtrust/inventory"
	"github.com/regtrust/regtrust/tasks"
)

// loadSSHConfig writes content as an ssh config file and loads it.
func loadSSHConfig(t *testing.T, content string) *sshconfig.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := sshconfig.Load(path)
	if err != nil {
		t.Fatalf("sshconfig.Load: %v", err)
	}
	return f
}

// keyFile writes an empty file that stands in for a readable key.
func keyFile(t *testing.T, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSSHConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	configKey := keyFile(t, dir, "id_config")
	inventoryKey := keyFile(t, dir, "id_inventory")
	flagKey := keyFile(t, dir, "id_flag")
	config := loadSSHConfig(t, fmt.Sprintf(`Host web1
    HostName 10.1.0.5
    Port 2200
    User cfguser
    IdentityFile %s
    IdentityFile %s/id_missing
    ConnectTimeout 9
`, configKey, dir))

	tests := []struct {
		name        string
		vars        map[string]any
		opts        Options
		wantHost    string
		wantPort    int
		wantUser    string
		wantKeys    []string
		wantTimeout time.Duration
	}{
		{
			name:        "ssh config fills unset values",
			vars:        map[string]any{},
			wantHost:    "10.1.0.5",
			wantPort:    2200,
			wantUser:    "cfguser",
			wantKeys:    []string{configKey},
			wantTimeout: 9 * time.Second,
		},
		{
			name:        "inventory port, user and key win",
			vars:        map[string]any{"ansible_port": 22, "ansible_user": "invuser", "ansible_ssh_private_key_file": inventoryKey},
			wantHost:    "10.1.0.5",
			wantPort:    22,
			wantUser:    "invuser",
			wantKeys:    []string{inventoryKey, configKey},
			wantTimeout: 9 * time.Second,
		},
		{
			name:        "flags after inventory, before config",
			vars:        map[string]any{},
			opts:        Options{PrivateKey: flagKey, ConnectTimeout: 3 * time.Second},
			wantHost:    "10.1.0.5",
			wantPort:    2200,
			wantUser:    "cfguser",
			wantKeys:    []string{flagKey, configKey},
			wantTimeout: 3 * time.Second,
		},
		{
			name:        "ansible_host is the name looked up",
			vars:        map[string]any{"ansible_host": "192.0.2.9", "ansible_user": "invuser", "ansible_ssh_private_key_file": inventoryKey},
			wantHost:    "192.0.2.9",
			wantPort:    22,
			wantUser:    "invuser",
			wantKeys:    []string{inventoryKey},
			wantTimeout: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &inventory.Host{Name: "web1", Vars: tt.vars}
			conn, err := h.Connection()
			if err != nil {
				t.Fatal(err)
			}
			opts := tt.opts
			opts.SSHConfig = config
			cfg, err := sshConfig(h.Name, conn, &opts, []string{"known"})
			if err != nil {
				t.Fatalf("sshConfig error = %v; want nil", err)
			}
			if cfg.Host != tt.wantHost {
				t.Errorf("Host = %s; want %s", cfg.Host, tt.wantHost)
			}
			if cfg.Port != tt.wantPort {
				t.Errorf("Port = %d; want %d", cfg.Port, tt.wantPort)
			}
			if cfg.User != tt.wantUser {
				t.Errorf("User = %s; want %s", cfg.User, tt.wantUser)
			}
			if !slices.Equal(cfg.IdentityFiles, tt.wantKeys) {
				t.Errorf("IdentityFiles = %v; want %v", cfg.IdentityFiles, tt.wantKeys)
			}
			if cfg.ConnectTimeout != tt.wantTimeout {
				t.Errorf("ConnectTimeout = %v; want %v", cfg.ConnectTimeout, tt.wantTimeout)
			}
		})
	}
}

func TestJumpChain(t *testing.T) {
	config := loadSSHConfig(t, `Host target
    ProxyJump alpha,ops@beta:2222
Host alpha
    HostName 10.9.0.1
    User alice
    ProxyJump gamma
Host beta
    ProxyJump ignored-for-later-hops
Host gamma
    HostName 10.9.0.3
    Port 2022
    User gus
Host loop1
    ProxyJump loop2
Host loop2
    ProxyJump loop1
Host looped
    ProxyJump loop1
`)
	opts := &Options{SSHConfig: config}
	tests := []struct {
		name    string
		host    string
		want    []string // user@host:port of each hop
		wantErr string
	}{
		{name: "first hop's own jump comes first", host: "target", want: []string{"gus@10.9.0.3:2022", "alice@10.9.0.1:0", "ops@beta:2222"}},
		{name: "loop", host: "looped", wantErr: "loop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &inventory.Host{Name: tt.host, Vars: map[string]any{"ansible_user": "u"}}
			conn, err := h.Connection()
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := sshConfig(h.Name, conn, opts, []string{"known"})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("sshConfig error = %v; want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("sshConfig error = %v; want nil", err)
			}
			var got []string
			for _, j := range cfg.Jumps {
				got = append(got, fmt.Sprintf("%s@%s:%d", j.User, j.Host, j.Port))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("jumps = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestBecomeFor(t *testing.T) {
	const flagPassword, hostPassword = "flag-pw", "host-pw"
	tests := []struct {
		name    string
		vars    map[string]any
		plays   []*Play
		want    tasks.Become
		wantErr string
	}{
		{name: "off by default", plays: []*Play{{}}, want: tasks.Become{}},
		{name: "play keyword", plays: []*Play{{Become: true}}, want: tasks.Become{User: "root", Password: secret.New(flagPassword)}},
		{name: "play become_user", plays: []*Play{{Become: true, BecomeUser: "docker"}}, want: tasks.Become{User: "docker", Password: secret.New(flagPassword)}},
		{name: "host var turns it off", vars: map[string]any{"ansible_become": false}, plays: []*Play{{Become: true}}, want: tasks.Become{}},
		{name: "host var turns it on", vars: map[string]any{"ansible_become": true}, plays: []*Play{{}}, want: tasks.Become{User: "root", Password: secret.New(flagPassword)}},
		{
			name:  "host user and password win",
			vars:  map[string]any{"ansible_become_user": "svc", "ansible_become_password": hostPassword},
			plays: []*Play{{Become: true, BecomeUser: "docker"}},
			want:  tasks.Become{User: "svc", Password: secret.New(hostPassword)},
		},
		{name: "plays disagree", plays: []*Play{{Become: true, BecomeUser: "a"}, {Become: true, BecomeUser: "b"}}, wantErr: `become_user "a" and "b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &inventory.Host{Name: "n1", Vars: tt.vars}
			conn, err := h.Connection()
			if err != nil {
				t.Fatal(err)
			}
			got, err := becomeFor(h.Name, conn, tt.plays, &Options{BecomePassword: secret.New(flagPassword)})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("becomeFor error = %v; want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("becomeFor error = %v; want nil", err)
			}
			if got.User != tt.want.User || got.Password.Reveal() != tt.want.Password.Reveal() {
				t.Errorf("becomeFor = {%s %s}; want {%s %s}", got.User, got.Password.Reveal(), tt.want.User, tt.want.Password.Reveal())
			}
		})
	}
}

// TestRunThroughBastionFromSSHConfig reaches a host that the inventory
// names only by alias: the ssh config gives its address, port, user,
// key and the bastion in front of it.
func TestRunThroughBastionFromSSHConfig(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	bastion := sshtest.NewServer(t, sshtest.WithForwarding())
	target := sshtest.NewServer(t)
	root := t.TempDir()
	config := loadSSHConfig(t, fmt.Sprintf(`Host hidden
    HostName 127.0.0.1
    Port %d
    User %s
    IdentityFile %s
    ProxyJump jump
Host jump
    HostName 127.0.0.1
    Port %d
    User %s
    IdentityFile %s
`, target.Port, target.User, target.ClientKeyFile, bastion.Port, bastion.User, bastion.ClientKeyFile))
	known := filepath.Join(t.TempDir(), "known_hosts")
	var lines []byte
	for _, s := range []*sshtest.Server{bastion, target} {
		data, err := os.ReadFile(s.KnownHostsFile)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, data...)
	}
	if err := os.WriteFile(known, lines, 0o600); err != nil {
		t.Fatal(err)
	}
	invPath := filepath.Join(t.TempDir(), "inventory.yml")
	inv := fmt.Sprintf("all:\n  hosts:\n    hidden:\n      docker_certs_dir: %s/certs.d\n", root)
	if err := os.WriteFile(invPath, []byte(inv), 0o600); err != nil {
		t.Fatal(err)
	}
	loaded, err := inventory.Load(invPath)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := Parse("site.yml", []byte(`- hosts: all
  registries:
    lab:
      address: registry.lab.test:5000
      ca_pem: |
        `+strings.ReplaceAll(strings.TrimSpace(caPEM), "\n", "\n        ")+`
  tasks:
    - place_docker_cert: {registry: lab}
`))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSH_AUTH_SOCK", "")
	rep, err := Run(context.Background(), pb, Options{
		Inventory:       loaded,
		KnownHostsFiles: []string{known},
		SSHConfig:       config,
	})
	if err != nil {
		t.Fatalf("Run error = %v; want nil", err)
	}
	if got := rep.Hosts[0]; got.Status != StatusChanged {
		t.Fatalf("host status = %s (%s); want changed", got.Status, got.Error)
	}
	if bastion.Conns() != 1 || target.Conns() != 1 {
		t.Errorf("connections: bastion %d, target %d; want 1 each", bastion.Conns(), target.Conns())
	}
	if _, err := os.Stat(filepath.Join(root, "certs.d", "registry.lab.test:5000", "ca.crt")); err != nil {
		t.Errorf("ca.crt not written through the bastion: %v", err)
	}
}

func TestRunHostTimeout(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	hanging := sshtest.NewServer(t, sshtest.HangAfterHandshake())
	f := newFleet(t, 1, fmt.Sprintf("        stuck:\n          ansible_host: 127.0.0.1\n          ansible_port: %d\n          ansible_user: %s\n          ansible_ssh_private_key_file: %s\n",
		hanging.Port, hanging.User, hanging.ClientKeyFile))
	known, err := os.ReadFile(hanging.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	existing, err := os.ReadFile(f.known)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.known, append(existing, known...), 0o600); err != nil {
		t.Fatal(err)
	}
	pb, err := Parse("site.yml", []byte(sitePlaybook(caPEM)))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(f.inventory)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), pb, Options{
		Inventory:       inv,
		KnownHostsFiles: []string{f.known},
		HostTimeout:     300 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("Run error = %v; want nil", err)
	}
	for _, h := range rep.Hosts {
		switch h.Host {
		case "stuck":
			if h.Status != StatusFailed || !strings.Contains(h.Error, "--host-timeout") {
				t.Errorf("stuck: status %s, error %q; want failed naming --host-timeout", h.Status, h.Error)
			}
		default:
			if h.Status != StatusChanged {
				t.Errorf("%s: status %s (%s); want changed", h.Host, h.Status, h.Error)
			}
		}
	}
}

// TestSSHConfigErrorsStopTheRun checks that a bad ssh config entry for
// a selected host stops the run before any host is contacted.
func TestSSHConfigErrorsStopTheRun(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	f := newFleet(t, 1, "")
	config := loadSSHConfig(t, "Host 127.0.0.1\n    ProxyCommand nc %h %p\n")
	pb, err := Parse("site.yml", []byte(sitePlaybook(caPEM)))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Load(f.inventory)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Run(context.Background(), pb, Options{Inventory: inv, KnownHostsFiles: []string{f.known}, SSHConfig: config})
	if err == nil || !strings.Contains(err.Error(), "ProxyJump instead") {
		t.Fatalf("Run error = %v; want one about ProxyCommand", err)
	}
	if n := f.conns(); n != 0 {
		t.Errorf("%d connections opened; want none", n)
	}
}

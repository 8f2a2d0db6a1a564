package inventory

import (
	"os"
	"os/user"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/regtrust/regtrust/internal/secret"
)

func TestConnection(t *testing.T) {
	current, err := user.Current()
	if err != nil {
		t.Fatalf("user.Current() = %v", err)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	defaults := Connection{Address: "web-1", Port: 22, User: current.Username, BecomeUser: "root", BecomeMethod: "sudo"}
	with := func(change func(*Connection)) Connection {
		c := defaults
		change(&c)
		return c
	}

	tests := []struct {
		name string
		vars map[string]any
		want Connection
	}{
		{"defaults", nil, defaults},
		{"address", map[string]any{"ansible_host": "10.0.0.11"},
			with(func(c *Connection) { c.Address = "10.0.0.11" })},
		{"ssh-host-wins", map[string]any{"ansible_host": "10.0.0.11", "ansible_ssh_host": "10.0.0.12"},
			with(func(c *Connection) { c.Address = "10.0.0.12" })},
		{"null-host-is-unset", map[string]any{"ansible_host": nil},
			defaults},
		{"empty-host-is-unset", map[string]any{"ansible_host": ""},
			defaults},
		{"port-int", map[string]any{"ansible_port": 2222},
			with(func(c *Connection) { c.Port = 2222; c.Set.Port = true })},
		{"port-string", map[string]any{"ansible_port": " 2222 "},
			with(func(c *Connection) { c.Port = 2222; c.Set.Port = true })},
		{"port-float", map[string]any{"ansible_port": 2222.0},
			with(func(c *Connection) { c.Port = 2222; c.Set.Port = true })},
		{"ssh-port-wins", map[string]any{"ansible_port": 2222, "ansible_ssh_port": 2200},
			with(func(c *Connection) { c.Port = 2200; c.Set.Port = true })},
		{"ssh-port-alone", map[string]any{"ansible_ssh_port": "2201"},
			with(func(c *Connection) { c.Port = 2201; c.Set.Port = true })},
		{"user", map[string]any{"ansible_user": "deploy"},
			with(func(c *Connection) { c.User = "deploy"; c.Set.User = true })},
		{"ssh-user-wins", map[string]any{"ansible_user": "deploy", "ansible_ssh_user": "ops"},
			with(func(c *Connection) { c.User = "ops"; c.Set.User = true })},
		{"key-file-tilde", map[string]any{"ansible_ssh_private_key_file": "~/.ssh/id_ed25519"},
			with(func(c *Connection) { c.IdentityFile = filepath.Join(home, ".ssh/id_ed25519") })},
		{"key-file-bare-tilde", map[string]any{"ansible_ssh_private_key_file": "~"},
			with(func(c *Connection) { c.IdentityFile = home })},
		{"key-file-user-tilde", map[string]any{"ansible_ssh_private_key_file": "~" + current.Username + "/k"},
			with(func(c *Connection) { c.IdentityFile = filepath.Join(current.HomeDir, "k") })},
		{"key-file-absolute", map[string]any{"ansible_ssh_private_key_file": "/etc/keys/k"},
			with(func(c *Connection) { c.IdentityFile = "/etc/keys/k" })},
		{"key-file-generic-name", map[string]any{"ansible_private_key_file": "/a"},
			with(func(c *Connection) { c.IdentityFile = "/a" })},
		{"key-file-ssh-name-wins", map[string]any{"ansible_private_key_file": "/a", "ansible_ssh_private_key_file": "/b"},
			with(func(c *Connection) { c.IdentityFile = "/b" })},
		{"become-bool", map[string]any{"ansible_become": true},
			with(func(c *Connection) { c.Become = true; c.Set.Become = true })},
		{"become-yes-string", map[string]any{"ansible_become": "Yes"},
			with(func(c *Connection) { c.Become = true; c.Set.Become = true })},
		{"become-false-string", map[string]any{"ansible_become": "false"},
			with(func(c *Connection) { c.Set.Become = true })},
		{"password", map[string]any{"ansible_password": "pw1"},
			with(func(c *Connection) { c.Password = secret.New("pw1") })},
		{"ssh-password-wins", map[string]any{"ansible_password": "pw1", "ansible_ssh_pass": "pw2"},
			with(func(c *Connection) { c.Password = secret.New("pw2") })},
		{"become-password", map[string]any{"ansible_become_password": "sudo1"},
			with(func(c *Connection) { c.BecomePassword = secret.New("sudo1") })},
		{"become-pass-wins", map[string]any{"ansible_become_password": "sudo1", "ansible_become_pass": "sudo2"},
			with(func(c *Connection) { c.BecomePassword = secret.New("sudo2") })},
		{"password-number", map[string]any{"ansible_become_password": 1234},
			with(func(c *Connection) { c.BecomePassword = secret.New("1234") })},
		{"become-user", map[string]any{"ansible_become": 1, "ansible_become_user": "docker"},
			with(func(c *Connection) {
				c.Become = true
				c.BecomeUser = "docker"
				c.Set.Become = true
				c.Set.BecomeUser = true
			})},
		{"become-method-sudo", map[string]any{"ansible_become_method": "sudo"},
			defaults},
		{"connection-ssh", map[string]any{"ansible_connection": "ssh"},
			defaults},
		{"connection-smart", map[string]any{"ansible_connection": "smart"},
			defaults},
		{"harmless-ssh-args", map[string]any{"ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o ServerAliveInterval=30"},
			defaults},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Host{Name: "web-1", Vars: tt.vars}
			got, err := h.Connection()
			if err != nil {
				t.Fatalf("Connection() error = %v; want none", err)
			}
			if !sameConnection(got, tt.want) {
				t.Errorf("Connection() = %+v; want %+v", got, tt.want)
			}
		})
	}
}

func TestConnectionErrors(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]any
		want string
	}{
		{"port-word", map[string]any{"ansible_port": "ssh"},
			`host web-1: invalid ansible_port "ssh": not a number; set a port from 1 to 65535`},
		{"port-zero", map[string]any{"ansible_port": 0},
			`host web-1: invalid ansible_port 0: out of range; set a port from 1 to 65535`},
		{"port-too-big", map[string]any{"ansible_ssh_port": "70000"},
			`host web-1: invalid ansible_ssh_port 70000: out of range; set a port from 1 to 65535`},
		{"port-negative", map[string]any{"ansible_port": -22},
			`host web-1: invalid ansible_port -22: out of range; set a port from 1 to 65535`},
		{"port-fraction", map[string]any{"ansible_port": 22.5},
			`host web-1: invalid ansible_port 22.5: not a number; set a port from 1 to 65535`},
		{"port-bool", map[string]any{"ansible_port": true},
			`host web-1: invalid ansible_port true: not a number; set a port from 1 to 65535`},
		{"port-list", map[string]any{"ansible_port": []any{22}},
			`host web-1: invalid ansible_port a list: not a number; set a port from 1 to 65535`},
		{"become-method-su", map[string]any{"ansible_become_method": "su"},
			`host web-1: invalid ansible_become_method "su": regtrust supports only sudo; remove the variable or set it to sudo`},
		{"become-not-bool", map[string]any{"ansible_become": "maybe"},
			`host web-1: invalid ansible_become: "maybe" is not a boolean: use true or false`},
		{"become-number", map[string]any{"ansible_become": 2},
			`host web-1: invalid ansible_become: 2 is not a boolean: use true or false`},
		{"user-list", map[string]any{"ansible_user": []any{"a"}},
			`host web-1: invalid ansible_user: got a list, want a string`},
		{"host-mapping", map[string]any{"ansible_host": map[string]any{"ip": "x"}},
			`host web-1: invalid ansible_host: got a mapping, want a string`},
		{"host-template", map[string]any{"ansible_host": "{{ inventory_hostname }}.corp"},
			`host web-1: invalid ansible_host "{{ inventory_hostname }}.corp": it is a Jinja2 template, which regtrust does not evaluate; write the value out`},
		{"user-vault", map[string]any{"ansible_user": "$ANSIBLE_VAULT;1.1;AES256\n6162\n"},
			`host web-1: invalid ansible_user: it is encrypted with Ansible Vault, which regtrust cannot decrypt; write the value out`},
		{"connection-local", map[string]any{"ansible_connection": "local"},
			`host web-1: invalid ansible_connection "local": regtrust connects only over SSH; remove the variable or set it to ssh`},
		{"proxy-jump", map[string]any{"ansible_ssh_common_args": "-o ProxyJump=bastion.corp.example"},
			`host web-1: ansible_ssh_common_args sets a jump host (ProxyJump, ProxyCommand or -J), which regtrust does not support: make the host reachable directly or remove the option`},
		{"proxy-command", map[string]any{"ansible_ssh_extra_args": `-o ProxyCommand="ssh -W %h:%p jump"`},
			`host web-1: ansible_ssh_extra_args sets a jump host (ProxyJump, ProxyCommand or -J), which regtrust does not support: make the host reachable directly or remove the option`},
		{"dash-j", map[string]any{"ansible_ssh_args": "-J jump"},
			`host web-1: ansible_ssh_args sets a jump host (ProxyJump, ProxyCommand or -J), which regtrust does not support: make the host reachable directly or remove the option`},
		{"key-file-unknown-user", map[string]any{"ansible_ssh_private_key_file": "~no-such-user-x9/k"},
			`host web-1: invalid ansible_ssh_private_key_file "~no-such-user-x9/k": user: unknown user no-such-user-x9`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Host{Name: "web-1", Vars: tt.vars}
			got, err := h.Connection()
			if err == nil {
				t.Fatalf("Connection() = %+v, no error; want %q", got, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Connection() error =\n  %s\nwant\n  %s", err, tt.want)
			}
		})
	}
}

func TestConnectionPasswordErrors(t *testing.T) {
	const password = "{{ lookup('env', 'PW') }}-x9"
	tests := []struct {
		name string
		vars map[string]any
		want string
	}{
		{"template", map[string]any{"ansible_password": password},
			"host web-1: invalid ansible_password: it is a Jinja2 template"},
		{"vault", map[string]any{"ansible_become_password": "$ANSIBLE_VAULT;1.1;AES256\n6162\n"},
			"host web-1: invalid ansible_become_password: it is encrypted with Ansible Vault"},
		{"list", map[string]any{"ansible_ssh_pass": []any{password}},
			"host web-1: invalid ansible_ssh_pass: got a list, want a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Host{Name: "web-1", Vars: tt.vars}
			_, err := h.Connection()
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Connection() error = %v; want one starting with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "x9") || strings.Contains(err.Error(), "6162") {
				t.Errorf("error %q contains the password; want it left out", err)
			}
		})
	}
}

func TestConnectionErrorHidesVaultText(t *testing.T) {
	h := &Host{Name: "web-1", Vars: map[string]any{"ansible_user": "$ANSIBLE_VAULT;1.1;AES256\n6162636465\n"}}
	_, err := h.Connection()
	if err == nil {
		t.Fatal("Connection() = no error; want one")
	}
	if strings.Contains(err.Error(), "6162636465") {
		t.Errorf("error %q contains the encrypted text; want it left out", err)
	}
}

// sameConnection compares connections, secrets by their text, because a
// secret.Value cannot be compared with ==.
func sameConnection(a, b Connection) bool {
	if a.Password.Reveal() != b.Password.Reveal() || a.BecomePassword.Reveal() != b.BecomePassword.Reveal() {
		return false
	}
	a.Password, a.BecomePassword = secret.Value{}, secret.Value{}
	b.Password, b.BecomePassword = secret.Value{}, secret.Value{}
	return reflect.DeepEqual(a, b)
}

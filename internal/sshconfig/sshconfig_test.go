package sshconfig

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sampleConfig is written in the style of a real ~/.ssh/config: exact
// names first, then wildcards, then defaults under Host *.
const sampleConfig = `# Production bastion
Host bastion
    HostName bastion.example.com
    User jump
    Port 2222
    IdentityFile ~/.ssh/id_bastion

Host db-* !db-legacy
    ProxyJump bastion
    User dba

Host web1 web2
    HostName %h.internal.example.com
    ProxyJump ops@bastion:2222,ssh://admin@[fd00::1]:22
    ConnectTimeout 7

Host legacy
    HostName 10.0.0.9
    ProxyCommand ssh -W %h:%p bastion

Host direct
    ProxyJump none
    IdentityFile ~/.ssh/id_%r_%h
    IdentityFile %d/.ssh/id_%p

Host *
    User deploy
    IdentityFile ~/.ssh/id_ed25519
    ProxyJump fallback
`

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLookup(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	f, err := Load(writeConfig(t, sampleConfig))
	if err != nil {
		t.Fatalf("Load error = %v; want nil", err)
	}
	tests := []struct {
		name  string
		alias string
		want  Settings
	}{
		{
			name:  "exact block wins over defaults",
			alias: "bastion",
			want: Settings{
				HostName:      "bastion.example.com",
				Port:          2222,
				User:          "jump",
				IdentityFiles: []string{home + "/.ssh/id_bastion", home + "/.ssh/id_ed25519"},
				ProxyJump:     []Jump{{Host: "fallback"}},
			},
		},
		{
			name:  "wildcard block",
			alias: "db-main",
			want: Settings{
				User:          "dba",
				IdentityFiles: []string{home + "/.ssh/id_ed25519"},
				ProxyJump:     []Jump{{Host: "bastion"}},
			},
		},
		{
			name:  "negated pattern skips the block",
			alias: "db-legacy",
			want: Settings{
				User:          "deploy",
				IdentityFiles: []string{home + "/.ssh/id_ed25519"},
				ProxyJump:     []Jump{{Host: "fallback"}},
			},
		},
		{
			name:  "chained jumps and host token",
			alias: "web2",
			want: Settings{
				HostName:       "web2.internal.example.com",
				User:           "deploy",
				IdentityFiles:  []string{home + "/.ssh/id_ed25519"},
				ProxyJump:      []Jump{{User: "ops", Host: "bastion", Port: 2222}, {User: "admin", Host: "fd00::1", Port: 22}},
				ConnectTimeout: 7 * time.Second,
			},
		},
		{
			name:  "ProxyJump none and identity tokens",
			alias: "direct",
			want: Settings{
				User:          "deploy",
				IdentityFiles: []string{home + "/.ssh/id_deploy_direct", home + "/.ssh/id_22", home + "/.ssh/id_ed25519"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.Lookup(tt.alias, 0, "localuser")
			if err != nil {
				t.Fatalf("Lookup(%q) error = %v; want nil", tt.alias, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Lookup(%q) = %+v; want %+v", tt.alias, got, tt.want)
			}
		})
	}
}

func TestLookupErrors(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	tests := []struct {
		name    string
		content string
		alias   string
		want    string
	}{
		{name: "ProxyCommand", content: sampleConfig, alias: "legacy", want: "use ProxyJump instead"},
		{name: "port out of range", content: "Host a\n  Port 70000\n", alias: "a", want: `invalid Port "70000"`},
		{name: "port not a number", content: "Host a\n  Port ssh\n", alias: "a", want: `invalid Port "ssh"`},
		{name: "timeout not a number", content: "Host a\n  ConnectTimeout 5s\n", alias: "a", want: `invalid ConnectTimeout "5s"`},
		{name: "bad jump", content: "Host a\n  ProxyJump b,,c\n", alias: "a", want: "empty hop"},
		{name: "unknown token", content: "Host a\n  HostName %C\n", alias: "a", want: "does not expand %C"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.content)
			f, err := Load(path)
			if err != nil {
				t.Fatalf("Load error = %v; want nil", err)
			}
			_, err = f.Lookup(tt.alias, 22, "u")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Lookup error = %v; want one containing %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.alias) {
				t.Errorf("error = %q; want it to name host %s", err, tt.alias)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    string
	}{
		{name: "Match exec", content: "Match exec \"true\"\n  User x\n", want: "--ssh-config none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.content)
			_, err := Load(path)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), path) {
				t.Errorf("Load error = %v; want one naming %s and containing %q", err, path, tt.want)
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Errorf("Load of a missing file error = nil; want an error")
	}
}

func TestLoadInclude(t *testing.T) {
	dir := t.TempDir()
	included := filepath.Join(dir, "hosts.conf")
	if err := os.WriteFile(included, []byte("Host inner\n  HostName 192.0.2.7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(writeConfig(t, "Include "+included+"\n"))
	if err != nil {
		t.Fatalf("Load error = %v; want nil", err)
	}
	got, err := f.Lookup("inner", 22, "u")
	if err != nil {
		t.Fatalf("Lookup error = %v; want nil", err)
	}
	if got.HostName != "192.0.2.7" {
		t.Errorf("HostName = %q; want 192.0.2.7 from the included file", got.HostName)
	}
}

func TestLoadDefault(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	f, err := LoadDefault()
	if err != nil || f != nil {
		t.Fatalf("LoadDefault without ~/.ssh/config = %v, %v; want nil, nil", f, err)
	}
	if s, err := f.Lookup("any", 22, "u"); err != nil || !reflect.DeepEqual(s, Settings{}) {
		t.Errorf("nil File Lookup = %+v, %v; want no settings", s, err)
	}
	if err := os.MkdirAll(filepath.Join(home, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh", "config"), []byte("Host a\n  User alice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err = LoadDefault()
	if err != nil || f == nil {
		t.Fatalf("LoadDefault = %v, %v; want a File", f, err)
	}
	if got := f.Path(); got != filepath.Join(home, ".ssh", "config") {
		t.Errorf("Path() = %s; want ~/.ssh/config", got)
	}
}

func TestParseProxyJump(t *testing.T) {
	tests := []struct {
		value   string
		want    []Jump
		wantErr string
	}{
		{value: "bastion", want: []Jump{{Host: "bastion"}}},
		{value: "ops@bastion:2222", want: []Jump{{User: "ops", Host: "bastion", Port: 2222}}},
		{value: "a, b@c", want: []Jump{{Host: "a"}, {User: "b", Host: "c"}}},
		{value: "[::1]:2200", want: []Jump{{Host: "::1", Port: 2200}}},
		{value: "u@[fd00::2]", want: []Jump{{User: "u", Host: "fd00::2"}}},
		{value: "fd00::3", want: []Jump{{Host: "fd00::3"}}},
		{value: "ssh://admin@jump.example.com:22", want: []Jump{{User: "admin", Host: "jump.example.com", Port: 22}}},
		{value: "user@domain@bastion", want: []Jump{{User: "user@domain", Host: "bastion"}}},
		{value: "a,", wantErr: "empty hop"},
		{value: "a:0", wantErr: "invalid port"},
		{value: "a:ssh", wantErr: "invalid port"},
		{value: "@a", wantErr: "empty user"},
		{value: "ssh://u:pw@a", wantErr: "no password"},
		{value: "ssh://a/path", wantErr: "without a path"},
		{value: "a b", wantErr: "want [user@]host[:port]"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, err := ParseProxyJump(tt.value)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseProxyJump(%q) error = %v; want one containing %q", tt.value, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseProxyJump(%q) error = %v; want nil", tt.value, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseProxyJump(%q) = %+v; want %+v", tt.value, got, tt.want)
			}
		})
	}
}

func TestJumpString(t *testing.T) {
	tests := []struct {
		jump Jump
		want string
	}{
		{jump: Jump{Host: "a"}, want: "a"},
		{jump: Jump{User: "u", Host: "a", Port: 2222}, want: "u@a:2222"},
		{jump: Jump{Host: "::1", Port: 22}, want: "[::1]:22"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.jump.String(); got != tt.want {
				t.Errorf("String() = %q; want %q", got, tt.want)
			}
		})
	}
}

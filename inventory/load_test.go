package inventory

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

func mustLoad(t *testing.T, paths ...string) *Inventory {
	t.Helper()
	inv, err := Load(paths...)
	if err != nil {
		t.Fatalf("Load(%q) = %v; want no error", paths, err)
	}
	return inv
}

func names(hosts []*Host) []string {
	out := []string{}
	for _, h := range hosts {
		out = append(out, h.Name)
	}
	return out
}

func mustHost(t *testing.T, inv *Inventory, name string) *Host {
	t.Helper()
	h, ok := inv.Host(name)
	if !ok {
		t.Fatalf("Host(%q) not found; hosts are %q", name, names(inv.Hosts()))
	}
	return h
}

// writeFiles creates files below a new temporary folder and returns the
// folder.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadDockerHostsExample(t *testing.T) {
	inv := mustLoad(t, "testdata/docker_hosts.yml")
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}

	want := map[string]Connection{
		"node1": {Address: "10.0.0.11", Port: 22, User: "root", IdentityFile: filepath.Join(home, ".ssh/id_ed25519"),
			BecomeUser: "root", BecomeMethod: "sudo", Set: ConnectionSet{User: true}},
		"node2": {Address: "10.0.0.12", Port: 2222, User: "root", IdentityFile: filepath.Join(home, ".ssh/id_ed25519"),
			BecomeUser: "root", BecomeMethod: "sudo", Set: ConnectionSet{Port: true, User: true}},
	}
	if got := names(inv.Hosts()); !slices.Equal(got, []string{"node1", "node2"}) {
		t.Errorf("Hosts() = %q; want [node1 node2]", got)
	}
	for name, wantConn := range want {
		h := mustHost(t, inv, name)
		got, err := h.Connection()
		if err != nil {
			t.Errorf("%s: Connection() = %v; want no error", name, err)
			continue
		}
		if !sameConnection(got, wantConn) {
			t.Errorf("%s: Connection() = %+v; want %+v", name, got, wantConn)
		}
		if !slices.Equal(h.Groups, []string{"docker_hosts"}) {
			t.Errorf("%s: Groups = %q; want [docker_hosts]", name, h.Groups)
		}
	}
	if got := inv.Groups(); !slices.Equal(got, []string{"all", "docker_hosts", "ungrouped"}) {
		t.Errorf("Groups() = %q; want [all docker_hosts ungrouped]", got)
	}
	if w := inv.Warnings(); len(w) != 0 {
		t.Errorf("Warnings() = %q; want none", w)
	}
}

func TestLoadMultiTierYAML(t *testing.T) {
	inv := mustLoad(t, "testdata/multitier/inventory.yml")

	wantHosts := []string{
		"web01.prod.corp.example", "web02.prod.corp.example", "web03.prod.corp.example",
		"web01.stage.corp.example", "db01.prod.corp.example", "db02.prod.corp.example",
		"ci-a.corp.example", "ci-b.corp.example", "ci-c.corp.example", "bastion.corp.example",
	}
	if got := names(inv.Hosts()); !slices.Equal(got, wantHosts) {
		t.Errorf("Hosts() = %q; want %q", got, wantHosts)
	}
	wantGroups := []string{"all", "builders", "dbservers", "prod_db", "prod_web", "production",
		"stage_web", "staging", "ungrouped", "webservers"}
	if got := inv.Groups(); !slices.Equal(got, wantGroups) {
		t.Errorf("Groups() = %q; want %q", got, wantGroups)
	}

	ntp := []any{"ntp1.corp.example", "ntp2.corp.example"}
	tests := []struct {
		host   string
		groups []string
		vars   map[string]any
	}{
		{
			host:   "web02.prod.corp.example",
			groups: []string{"prod_web", "production", "webservers"},
			vars: map[string]any{
				"ansible_user": "deploy", "registry_host": "registry.corp.example:5000", "ntp_servers": ntp,
				"env": "production", "http_port": 8080, "nginx_worker_processes": "auto",
			},
		},
		{
			host:   "web01.stage.corp.example",
			groups: []string{"stage_web", "staging", "webservers"},
			vars: map[string]any{
				"ansible_user": "deploy", "registry_host": "registry.corp.example:5000", "ntp_servers": ntp,
				"env": "staging", "http_port": 9090, "nginx_worker_processes": "auto",
			},
		},
		{
			host:   "db02.prod.corp.example",
			groups: []string{"dbservers", "prod_db", "production"},
			vars: map[string]any{
				"ansible_user": "deploy", "registry_host": "registry.corp.example:5000", "ntp_servers": ntp,
				"env": "production", "ansible_become": true, "ansible_become_user": "postgres",
				"ansible_host": "192.0.2.32", "ansible_port": 2222, "postgres_role": "replica",
			},
		},
		{
			host:   "ci-b.corp.example",
			groups: []string{"builders"},
			vars: map[string]any{
				"ansible_user": "runner", "registry_host": "registry.corp.example:5000", "ntp_servers": ntp,
				"ansible_ssh_private_key_file": "~/.ssh/ci_ed25519",
			},
		},
		{
			host:   "bastion.corp.example",
			groups: []string{"ungrouped"},
			vars: map[string]any{
				"ansible_user": "deploy", "registry_host": "registry.corp.example:5000", "ntp_servers": ntp,
				"ansible_port": 2200,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			h := mustHost(t, inv, tt.host)
			if !slices.Equal(h.Groups, tt.groups) {
				t.Errorf("Groups = %q; want %q", h.Groups, tt.groups)
			}
			if !reflect.DeepEqual(h.Vars, tt.vars) {
				t.Errorf("Vars = %#v; want %#v", h.Vars, tt.vars)
			}
		})
	}
}

func TestLoadINI(t *testing.T) {
	inv := mustLoad(t, "testdata/ini/hosts.ini")

	wantHosts := []string{
		"jumphost.lab.example",
		"node01.lab.example", "node02.lab.example", "node03.lab.example", "node04.lab.example",
		"gpu-a.lab.example", "gpu-b.lab.example", "gpu-c.lab.example",
		"node05.lab.example", "node10.lab.example", "node11.lab.example", "nas.lab.example",
	}
	if got := names(inv.Hosts()); !slices.Equal(got, wantHosts) {
		t.Errorf("Hosts() = %q; want %q", got, wantHosts)
	}
	wantGroups := []string{"all", "farm", "rack1", "rack2", "storage", "ungrouped"}
	if got := inv.Groups(); !slices.Equal(got, wantGroups) {
		t.Errorf("Groups() = %q; want %q", got, wantGroups)
	}

	farmVars := map[string]any{
		"ansible_ssh_private_key_file": "~/.ssh/farm_ed25519",
		"ansible_user":                 "builder",
		"ansible_become":               "true", // not a Python literal, so text as in Ansible
		"docker_data_root":             "/srv/docker",
		"max_pulls":                    4,
	}
	with := func(base map[string]any, extra map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		host   string
		groups []string
		vars   map[string]any
	}{
		{
			host:   "jumphost.lab.example",
			groups: []string{"ungrouped"},
			vars:   map[string]any{"ansible_ssh_private_key_file": "~/.ssh/farm_ed25519", "ansible_port": 2222},
		},
		{
			host:   "node03.lab.example",
			groups: []string{"farm", "rack1"},
			vars:   farmVars,
		},
		{
			host:   "gpu-b.lab.example",
			groups: []string{"farm", "rack1"},
			vars:   with(farmVars, map[string]any{"ansible_user": "ml", "nvidia": true}),
		},
		{
			host:   "node11.lab.example",
			groups: []string{"farm", "rack2"},
			vars: with(farmVars, map[string]any{
				"ansible_port": 2200, "ansible_host": "198.51.100.11", "note": "two words",
			}),
		},
		{
			host:   "nas.lab.example",
			groups: []string{"storage"},
			vars: map[string]any{
				"ansible_ssh_private_key_file": "~/.ssh/farm_ed25519",
				"ansible_host":                 "198.51.100.50",
				"quota":                        1.5,
				"mounts":                       []any{"/srv", "/backup"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			h := mustHost(t, inv, tt.host)
			if !slices.Equal(h.Groups, tt.groups) {
				t.Errorf("Groups = %q; want %q", h.Groups, tt.groups)
			}
			if !reflect.DeepEqual(h.Vars, tt.vars) {
				t.Errorf("Vars = %#v; want %#v", h.Vars, tt.vars)
			}
		})
	}
}

func TestLoadVarsFolders(t *testing.T) {
	inv := mustLoad(t, "testdata/vars/hosts.yml")

	tests := []struct {
		host string
		vars map[string]any
	}{
		{
			host: "core-1",
			vars: map[string]any{
				"log_level":         "info", // group_vars/all.yml over the inventory's all vars
				"ansible_user":      "ops",
				"registry_mirror":   "https://mirror.corp.example", // group_vars/docker_hosts/ over inventory
				"docker_log_driver": "local",                       // registry.yml is read after main.yml
				"registry_host":     "registry.corp.example:5000",  // docker_hosts.yml is shadowed
				"tier":              "core",
				"ansible_port":      2222, // host_vars/core-1 over the inventory host variable
				"rack":              "r1",
			},
		},
		{
			host: "core-2",
			vars: map[string]any{
				"log_level":         "info",
				"ansible_user":      "ops",
				"registry_mirror":   "https://mirror.corp.example",
				"docker_log_driver": "local",
				"registry_host":     "registry.corp.example:5000",
				"tier":              "core",
				"ansible_port":      2223, // host_vars/core-2/ports.yml
			},
		},
		{
			host: "edge-1",
			vars: map[string]any{
				"log_level":         "info",
				"ansible_user":      "ops",
				"registry_mirror":   "https://mirror.corp.example",
				"docker_log_driver": "local",
				"registry_host":     "registry.corp.example:5000",
				"tier":              "edge-dmz",     // group_vars/edge.yaml
				"ansible_host":      "203.0.113.99", // host_vars/edge-1.json
				"rack":              "dmz-2",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			h := mustHost(t, inv, tt.host)
			if !reflect.DeepEqual(h.Vars, tt.vars) {
				t.Errorf("Vars = %#v; want %#v", h.Vars, tt.vars)
			}
		})
	}

	wantWarnings := []string{
		"testdata/vars/group_vars/retired.yml matches no group in the inventory, so its variables are not used",
		"testdata/vars/group_vars/docker_hosts.yml is not read because testdata/vars/group_vars/docker_hosts exists: " +
			"Ansible reads only the first of NAME, NAME.yml, NAME.yaml and NAME.json",
	}
	if got := inv.Warnings(); !slices.Equal(got, wantWarnings) {
		t.Errorf("Warnings() = %q; want %q", got, wantWarnings)
	}
}

func TestLoadMergesPathsInOrder(t *testing.T) {
	tests := []struct {
		name        string
		paths       []string
		hosts       []string
		app2Address string
		user        string
	}{
		{
			name:        "yaml-then-ini",
			paths:       []string{"testdata/merge/base.yml", "testdata/merge/moved.ini"},
			hosts:       []string{"app-1", "app-2", "app-3"},
			app2Address: "10.30.0.2",
			user:        "ops2",
		},
		{
			name:        "ini-then-yaml",
			paths:       []string{"testdata/merge/moved.ini", "testdata/merge/base.yml"},
			hosts:       []string{"app-2", "app-3", "app-1"},
			app2Address: "10.20.0.2",
			user:        "ops",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv := mustLoad(t, tt.paths...)
			if got := names(inv.Hosts()); !slices.Equal(got, tt.hosts) {
				t.Errorf("Hosts() = %q; want %q", got, tt.hosts)
			}
			conn, err := mustHost(t, inv, "app-2").Connection()
			if err != nil {
				t.Fatalf("Connection() = %v; want no error", err)
			}
			if conn.Address != tt.app2Address {
				t.Errorf("app-2 Address = %q; want %q", conn.Address, tt.app2Address)
			}
			if conn.User != tt.user {
				t.Errorf("app-2 User = %q; want %q", conn.User, tt.user)
			}
			if got := mustHost(t, inv, "app-3").Groups; !slices.Equal(got, []string{"canary", "docker_hosts"}) {
				t.Errorf("app-3 Groups = %q; want [canary docker_hosts]", got)
			}
		})
	}
}

func TestLoadFolder(t *testing.T) {
	inv := mustLoad(t, "testdata/folder")
	if got := names(inv.Hosts()); !slices.Equal(got, []string{"web-1", "web-2", "db-1"}) {
		t.Errorf("Hosts() = %q; want [web-1 web-2 db-1]: hidden, backup and .md files must be skipped", got)
	}
	if got, _ := mustHost(t, inv, "web-2").Var("http_port"); got != 8080 {
		t.Errorf("web-2 http_port = %#v; want 8080 from the folder's group_vars", got)
	}
	if got, ok := mustHost(t, inv, "db-1").Var("http_port"); ok {
		t.Errorf("db-1 http_port = %#v; want unset", got)
	}
}

func TestLoadSameNameWarning(t *testing.T) {
	inv := mustLoad(t, "testdata/same_name.ini")
	want := []string{"a host and a group are both named db: the host pattern db selects only the host"}
	if got := inv.Warnings(); !slices.Equal(got, want) {
		t.Errorf("Warnings() = %q; want %q", got, want)
	}
	hosts, err := inv.Select("db")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(hosts); !slices.Equal(got, []string{"db"}) {
		t.Errorf("Select(db) = %q; want [db]", got)
	}
}

func TestLoadHostNamedAll(t *testing.T) {
	dir := writeFiles(t, map[string]string{"hosts": "all\nweb-1\n"})
	inv := mustLoad(t, filepath.Join(dir, "hosts"))
	want := []string{"a host is named all: the host pattern all still selects every host, so rename the host to select it alone"}
	if got := inv.Warnings(); !slices.Equal(got, want) {
		t.Errorf("Warnings() = %q; want %q", got, want)
	}
	hosts, err := inv.Select("all")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(hosts); !slices.Equal(got, []string{"all", "web-1"}) {
		t.Errorf("Select(all) = %q; want [all web-1]", got)
	}
}

func TestLoadWarnsUnselectableNames(t *testing.T) {
	dir := writeFiles(t, map[string]string{"hosts.yml": `
all:
  children:
    "web servers":
      hosts:
        web-1:
    db[0]:
    ok-group.v2:
      hosts:
        a*b:
        2001:db8::7:
`})
	inv := mustLoad(t, filepath.Join(dir, "hosts.yml"))
	want := []string{
		`group name "db[0]" contains "[", which host patterns treat specially, so a pattern cannot select it by name; rename the group`,
		`group name "web servers" contains " ", which host patterns treat specially, so a pattern cannot select it by name; rename the group`,
		`host name "a*b" contains "*", which host patterns treat specially, so a pattern cannot select it by name; rename the host`,
	}
	if got := inv.Warnings(); !slices.Equal(got, want) {
		t.Errorf("Warnings() =\n  %q\nwant\n  %q", got, want)
	}
}

func TestLoadINIVarsCommentWarning(t *testing.T) {
	dir := writeFiles(t, map[string]string{"hosts": "[web]\nweb-1\n\n[web:vars]\nansible_user=deploy # ops account\nport=8080 # web\n"})
	inv := mustLoad(t, filepath.Join(dir, "hosts"))
	h := mustHost(t, inv, "web-1")
	if got, _ := h.Var("ansible_user"); got != "deploy # ops account" {
		t.Errorf("ansible_user = %#v; want the comment kept, as Ansible keeps it", got)
	}
	if got, _ := h.Var("port"); got != 8080 {
		t.Errorf("port = %#v; want 8080, because Python ignores a comment after a literal", got)
	}
	want := []string{filepath.Join(dir, "hosts") + ":5:1: the value of ansible_user contains \" #\", which Ansible keeps " +
		"as part of the value in a [group:vars] section; put the comment on a line of its own"}
	if got := inv.Warnings(); !slices.Equal(got, want) {
		t.Errorf("Warnings() = %q; want %q", got, want)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		path string
		want string
	}{
		{"unknown-group-key", "testdata/bad/unknown_key.yml",
			`testdata/bad/unknown_key.yml:4:7: unknown key "host" in group web: allowed keys are hosts, vars and children`},
		{"hosts-as-list", "testdata/bad/hosts_list.yml",
			`testdata/bad/hosts_list.yml:5:9: hosts of group web must be a mapping of host names, got a sequence; write each host as "name:" on a line of its own`},
		{"vars-as-list", "testdata/bad/vars_list.yml",
			`testdata/bad/vars_list.yml:3:5: vars of group all must be a mapping of variable names to values, got a sequence`},
		{"host-as-scalar", "testdata/bad/host_scalar.yml",
			`testdata/bad/host_scalar.yml:3:12: host web-1 in group all must have a mapping of variables or nothing, got a string`},
		{"group-as-scalar", "testdata/bad/group_scalar.yml",
			`testdata/bad/group_scalar.yml:6:9: group db must be a mapping with hosts, vars or children, got a number`},
		{"top-level-list", "testdata/bad/top_list.yml",
			`testdata/bad/top_list.yml:1:1: a YAML inventory must be a mapping of group names, got a sequence`},
		{"tab-indent", "testdata/bad/tab_indent.yml",
			`testdata/bad/tab_indent.yml:4: invalid YAML: found character that cannot start any token; indent with spaces, because YAML does not allow tabs there`},
		{"empty-file", "testdata/bad/empty.yml",
			`inventory testdata/bad/empty.yml is empty: add hosts to it or leave it out`},
		{"comments-only", "testdata/bad/comments_only.ini",
			`inventory testdata/bad/comments_only.ini is empty: add hosts to it or leave it out`},
		{"duplicate-group", "testdata/bad/duplicate_key.yml",
			`testdata/bad/duplicate_key.yml:6:5: duplicate key "web": it is first defined at line 3`},
		{"child-cycle", "testdata/bad/cycle.yml",
			`testdata/bad/cycle.yml:7:13: child groups form a cycle: region -> zone -> region; remove one of these child links`},
		{"all-as-child", "testdata/bad/all_child.yml",
			`testdata/bad/all_child.yml:5:9: group all cannot be a child of group web: every group is already below all`},
		{"port-out-of-range", "testdata/bad/bad_port.yml",
			`testdata/bad/bad_port.yml:3:5: invalid port in host "web-1:99999": use a port from 1 to 65535`},
		{"range-reversed", "testdata/bad/range_reversed.ini",
			`testdata/bad/range_reversed.ini:3:1: invalid host range in "web[10:01].example.com": range [10:01] starts after its end`},
		{"range-padding", "testdata/bad/range_padding.ini",
			`testdata/bad/range_padding.ini:2:3: invalid host range in "web[01:100]": range [01:100] pads with zeros, so start and end must have the same number of digits, as in [01:50]`},
		{"range-stride", "testdata/bad/range_stride.yml",
			`testdata/bad/range_stride.yml:3:5: invalid host range in "web[1:9:0]": range [1:9:0] has an invalid stride "0": use a whole number of 1 or more`},
		{"range-unclosed", "testdata/bad/range_unclosed.ini",
			`testdata/bad/range_unclosed.ini:2:1: invalid host range in "web[1:3": found '[' without ']'`},
		{"section-with-space", "testdata/bad/section_space.ini",
			`testdata/bad/section_space.ini:4:1: invalid section header [web servers]: a group name cannot contain spaces, ':' or ']'`},
		{"section-kind", "testdata/bad/section_kind.ini",
			`testdata/bad/section_kind.ini:1:1: invalid section [web:host]: the part after ':' must be vars or children`},
		{"undefined-child", "testdata/bad/undefined_child.ini",
			`testdata/bad/undefined_child.ini:6:1: section [farm:children] includes undefined group rack9: add a [rack9] section or fix the name`},
		{"undefined-vars-group", "testdata/bad/undefined_vars.ini",
			`testdata/bad/undefined_vars.ini:4:1: section [wbe:vars] is for undefined group wbe: add a [wbe] section or fix the name`},
		{"missing-equals", "testdata/bad/missing_equals.ini",
			`testdata/bad/missing_equals.ini:2:27: invalid host variable: expected key=value; quote a value that contains spaces or '#'`},
		{"unclosed-quote", "testdata/bad/unclosed_quote.ini",
			`testdata/bad/unclosed_quote.ini:2:1: invalid host line: a " quote is not closed`},
		{"vault-encrypted", "testdata/bad/vault.yml",
			`inventory testdata/bad/vault.yml is encrypted with Ansible Vault, which regtrust cannot decrypt: decrypt it with ansible-vault decrypt, or keep only secrets in vault files`},
		{"script", "testdata/bad/script.py",
			`inventory testdata/bad/script.py is a script, which regtrust does not run: save its output with ansible-inventory -i testdata/bad/script.py --list --yaml > inventory.yml and load that file`},
		{"group-vars-list", "testdata/bad/vars_file/hosts.yml",
			`testdata/bad/vars_file/group_vars/all.yml:1:1: a variables file must be a mapping of variable names to values, got a sequence`},
		{"missing-file", "testdata/missing.yml",
			`load inventory: stat testdata/missing.yml: no such file or directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := Load(tt.path)
			if err == nil {
				t.Fatalf("Load(%s) = %d hosts, no error; want error %q", tt.path, len(inv.Hosts()), tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Load(%s) error =\n  %s\nwant\n  %s", tt.path, got, tt.want)
			}
		})
	}
}

func TestLoadErrorIsParseError(t *testing.T) {
	_, err := Load("testdata/bad/unknown_key.yml")
	var perr *ParseError
	if !errors.As(err, &perr) {
		t.Fatalf("Load error %v is %T; want *ParseError", err, err)
	}
	want := ParseError{File: "testdata/bad/unknown_key.yml", Line: 4, Column: 7,
		Msg: `unknown key "host" in group web: allowed keys are hosts, vars and children`}
	if *perr != want {
		t.Errorf("ParseError = %+v; want %+v", *perr, want)
	}
}

func TestLoadMissingFileIsNotExist(t *testing.T) {
	_, err := Load("testdata/missing.yml")
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) error %v; want one that wraps os.ErrNotExist", err)
	}
}

func TestLoadNoPaths(t *testing.T) {
	_, err := Load()
	if err == nil || err.Error() != "load inventory: no inventory path given" {
		t.Errorf("Load() error = %v; want \"load inventory: no inventory path given\"", err)
	}
}

func TestLoadDetectsFormatByContent(t *testing.T) {
	tests := []struct {
		name    string
		content string
		hosts   []string
	}{
		{"yaml-without-extension", "all:\n  hosts:\n    web-1:\n", []string{"web-1"}},
		{"json", `{"all": {"children": {"web": {"hosts": {"web-1": {"ansible_port": 2200}}}}}}`, []string{"web-1"}},
		{"ini-host-only", "web-1\nweb-2 ansible_port=2200\n", []string{"web-1", "web-2"}},
		{"ini-with-port", "web-1:2200\n", []string{"web-1"}},
		{"yaml-top-level-group", "web:\n  hosts:\n    web-1:\ndb:\n", []string{"web-1"}},
		{"yaml-hosts-as-string", "web:\n  hosts: web-1\n", []string{"web-1"}},
		{"yaml-with-bom", "\ufeffall:\n  hosts:\n    web-1:\n", []string{"web-1"}},
		{"ini-with-crlf", "[web]\r\nweb-1 ansible_user=ops\r\n", []string{"web-1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, map[string]string{"inventory": tt.content})
			inv := mustLoad(t, filepath.Join(dir, "inventory"))
			if got := names(inv.Hosts()); !slices.Equal(got, tt.hosts) {
				t.Errorf("Hosts() = %q; want %q", got, tt.hosts)
			}
		})
	}
}

func TestLoadUngroupedRules(t *testing.T) {
	dir := writeFiles(t, map[string]string{"hosts.ini": `
solo
[ungrouped]
moved
[all]
top
[web]
moved
`})
	inv := mustLoad(t, filepath.Join(dir, "hosts.ini"))
	tests := []struct {
		host   string
		groups []string
	}{
		{"solo", []string{"ungrouped"}},
		{"moved", []string{"web"}}, // a host in another group leaves ungrouped
		{"top", []string{"ungrouped"}},
	}
	for _, tt := range tests {
		if got := mustHost(t, inv, tt.host).Groups; !slices.Equal(got, tt.groups) {
			t.Errorf("%s Groups = %q; want %q", tt.host, got, tt.groups)
		}
	}
	hosts, err := inv.Select("ungrouped")
	if err != nil {
		t.Fatal(err)
	}
	if got := names(hosts); !slices.Equal(got, []string{"solo", "top"}) {
		t.Errorf("Select(ungrouped) = %q; want [solo top]", got)
	}
}

func TestLoadYAMLAliases(t *testing.T) {
	dir := writeFiles(t, map[string]string{"hosts.yml": `
all:
  children:
    web:
      vars: &common
        ansible_user: deploy
        ntp: [a, b]
      hosts:
        web-1:
          <<: *common
          ansible_user: override
    db:
      hosts:
        db-1: *common
    cache: &cachegroup
      hosts:
        cache-1:
    edge:
      children:
        cache: *cachegroup
`})
	inv := mustLoad(t, filepath.Join(dir, "hosts.yml"))
	tests := []struct {
		host string
		name string
		want any
	}{
		{"web-1", "ansible_user", "override"},
		{"web-1", "ntp", []any{"a", "b"}},
		{"db-1", "ansible_user", "deploy"},
	}
	for _, tt := range tests {
		got, _ := mustHost(t, inv, tt.host).Var(tt.name)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s %s = %#v; want %#v", tt.host, tt.name, got, tt.want)
		}
	}
	if got := mustHost(t, inv, "cache-1").Groups; !slices.Equal(got, []string{"cache", "edge"}) {
		t.Errorf("cache-1 Groups = %q; want [cache edge]", got)
	}
}

func TestLoadYAMLSelfAlias(t *testing.T) {
	dir := writeFiles(t, map[string]string{"hosts.yml": "all:\n  vars:\n    loop: &x [1, *x]\n  hosts:\n    web-1:\n"})
	_, err := Load(filepath.Join(dir, "hosts.yml"))
	want := filepath.Join(dir, "hosts.yml") + ":3:11: anchor x contains an alias to itself"
	if err == nil || err.Error() != want {
		t.Errorf("Load error = %v; want %s", err, want)
	}
}

func TestLoadYAMLScalarTypes(t *testing.T) {
	dir := writeFiles(t, map[string]string{"hosts.yml": `
all:
  hosts:
    web-1:
      yes_plain: yes
      off_plain: Off
      yes_quoted: "yes"
      true_plain: true
      port: 2222
      octal: 0o755
      ratio: 0.5
      nothing: ~
      since: 2024-01-02
      secret: !vault |
        $ANSIBLE_VAULT;1.1;AES256
        3131
      raw: !unsafe '{{ not templated }}'
`})
	inv := mustLoad(t, filepath.Join(dir, "hosts.yml"))
	want := map[string]any{
		"yes_plain":  true,
		"off_plain":  false,
		"yes_quoted": "yes",
		"true_plain": true,
		"port":       2222,
		"octal":      493,
		"ratio":      0.5,
		"nothing":    nil,
		"since":      "2024-01-02",
		"secret":     "$ANSIBLE_VAULT;1.1;AES256\n3131\n",
		"raw":        "{{ not templated }}",
	}
	if got := mustHost(t, inv, "web-1").Vars; !reflect.DeepEqual(got, want) {
		t.Errorf("Vars = %#v; want %#v", got, want)
	}
}

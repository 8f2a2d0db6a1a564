package playbook

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadExamples(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yml")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		if filepath.Base(f) == "inventory.yml" {
			continue
		}
		n++
		if _, err := Load(f); err != nil {
			t.Errorf("Load(%s): %v", f, err)
		}
	}
	if n == 0 {
		t.Fatal("no example playbooks found")
	}
}

func TestLoadIssueExample(t *testing.T) {
	pb, err := Load("../examples/site.yml")
	if err != nil {
		t.Fatal(err)
	}
	if len(pb.Plays) != 1 {
		t.Fatalf("got %d plays; want 1", len(pb.Plays))
	}
	p := pb.Plays[0]
	if p.Hosts != "docker_hosts" {
		t.Errorf("hosts = %q; want docker_hosts", p.Hosts)
	}
	var types []string
	for _, s := range p.Tasks {
		types = append(types, s.Type)
	}
	want := "fetch_ca place_docker_cert place_system_cert daemon_json_insecure"
	if got := strings.Join(types, " "); got != want {
		t.Errorf("tasks = %s; want %s", got, want)
	}
	if got := strings.Join(p.Tasks[2].Notify, ","); got != "update_ca" {
		t.Errorf("place_system_cert notifies %q; want update_ca", got)
	}
	if len(p.Handlers) != 2 || p.Handlers[0].Name != "update_ca" || p.Handlers[1].Name != "restart_docker_if_changed" {
		t.Errorf("handlers = %v; want update_ca, restart_docker_if_changed", p.Handlers)
	}
	if got := strings.Join(p.Handlers[0].Notify, ","); got != "restart_docker_if_changed" {
		t.Errorf("update_ca notifies %q; want restart_docker_if_changed", got)
	}
	if r := p.Registries["gitlab"]; r == nil || r.Address != "gitlab.ltc:4567" {
		t.Errorf("registry gitlab = %+v; want address gitlab.ltc:4567", r)
	}
}

func TestShortFormExpands(t *testing.T) {
	pb, err := Parse("short.yml", []byte(`
- hosts: all
  registries:
    a: {address: a.example:5000}
    b: {address: b.example, trust: [docker, system]}
    c: {address: "c.example:5000", trust: [insecure]}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := pb.Plays[0]
	var got []string
	for _, s := range p.Tasks {
		got = append(got, s.Label())
	}
	want := "fetch_ca a, place_docker_cert a, fetch_ca b, place_docker_cert b, place_system_cert b, daemon_json_insecure"
	if strings.Join(got, ", ") != want {
		t.Errorf("tasks = %s; want %s", strings.Join(got, ", "), want)
	}
	var handlers []string
	for _, h := range p.Handlers {
		handlers = append(handlers, h.Name)
	}
	if strings.Join(handlers, ",") != "update_ca,restart_docker_if_changed" {
		t.Errorf("handlers = %v; want update_ca, restart_docker_if_changed", handlers)
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name, yaml, err string
	}{
		{"empty", "", "the playbook is empty"},
		{"invalid-yaml", "- hosts: [a\n", "invalid YAML"},
		{"not-a-list", "hosts: all\n", "pb.yml:1:1: a playbook is a list of plays"},
		{"unknown-play-key", "- hosts: all\n  taks: []\n", `pb.yml:2:3: unknown play key "taks"; allowed keys: name, hosts, vars, become, become_user, serial, max_fail_percentage, any_errors_fatal, registries, tasks, handlers`},
		{"no-hosts", "- name: x\n  tasks: []\n", `play "x" has no hosts`},
		{"unknown-task", "- hosts: all\n  tasks:\n    - place_cert: {registry: r}\n", `pb.yml:3:7: unknown task or key "place_cert"`},
		{"unknown-arg", "- hosts: all\n  registries: {r: {address: r.example}}\n  tasks:\n    - fetch_ca: {registry: r}\n    - place_docker_cert: {registry: r, mode: 1}\n", `pb.yml:5:40: place_docker_cert: unknown argument "mode"`},
		{"unknown-registry-key", "- hosts: all\n  registries:\n    r: {adress: r.example}\n", `pb.yml:3:9: unknown registry key "adress"`},
		{"address-scheme", "- hosts: all\n  registries:\n    r: {address: \"https://r.example:5000\"}\n", `pb.yml:3:18: invalid registry address "https://r.example:5000": remove the scheme`},
		{"bad-port", "- hosts: all\n  registries:\n    r: {address: \"r.example:99999\"}\n", `port "99999" is not a number from 1 to 65535`},
		{"bad-pin", "- hosts: all\n  registries:\n    r: {address: r.example, ca_sha256: \"AB:12\"}\n", `pb.yml:3:40: registry "r"`},
		{"unknown-handler", "- hosts: all\n  registries: {r: {address: r.example}}\n  tasks:\n    - fetch_ca: {registry: r}\n    - place_system_cert: {registry: r}\n      notify: update_cache\n", `notifies "update_cache", which is not a handler`},
		{"handler-loop", "- hosts: all\n  tasks:\n    - update_ca:\n      notify: a\n  handlers:\n    - name: a\n      update_ca:\n      notify: b\n    - name: b\n      restart_docker_if_changed:\n      notify: a\n", "handlers notify each other in a loop: a -> b -> a"},
		{"duplicate-handler", "- hosts: all\n  tasks: []\n  handlers:\n    - update_ca:\n    - update_ca:\n", `handler "update_ca" is defined twice`},
		{"no-ca-source", "- hosts: all\n  registries: {r: {address: r.example}}\n  tasks:\n    - place_docker_cert: {registry: r}\n", `add "- fetch_ca: {registry: r}" before it`},
		{"two-tasks-in-one", "- hosts: all\n  tasks:\n    - update_ca:\n      restart_docker_if_changed:\n", "names two tasks"},
		{"scalar-task", "- hosts: all\n  tasks:\n    - update_ca\n", "write the task as a mapping: - update_ca:"},
		{"trust-with-tasks", "- hosts: all\n  registries: {r: {address: r.example, trust: [docker]}}\n  tasks: []\n", "only a play without tasks uses"},
		{"unknown-trust", "- hosts: all\n  registries: {r: {address: r.example, trust: [dokcer]}}\n", `unknown trust kind "dokcer"`},
		{"bad-registry-name", "- hosts: all\n  registries: {\"../x\": {address: r.example}}\n", `invalid registry name "../x"`},
		{"two-documents", "- hosts: all\n  tasks: []\n---\n- hosts: all\n", "a second YAML document"},
		{"insecure-entry", "- hosts: all\n  tasks:\n    - daemon_json_insecure: {registries: [\"http://a b\"]}\n", `pb.yml:3:29: daemon_json_insecure: invalid registry "http://a b"`},
		{"vars-not-mapping", "- hosts: all\n  vars: [a]\n  tasks: []\n", "pb.yml:2:9: vars must be a mapping"},
		{"vars-connection-setting", "- hosts: all\n  vars: {ansible_user: root}\n  tasks: []\n", `play variable "ansible_user" is a connection setting`},
		{"vars-list-value", "- hosts: all\n  vars: {container_runtime: [a]}\n  tasks: []\n", `play variable "container_runtime" must be a string, number or boolean, not a list`},
		{"via-and-ca-file", "- hosts: all\n  registries: {r: {address: r.example, ca_file: a.pem, via: node1}}\n", `registry "r": via fetches the CA from the registry`},
		{"fetch-via-and-ca-file", "- hosts: all\n  registries: {r: {address: r.example, ca_file: a.pem}}\n  tasks:\n    - fetch_ca: {registry: r, via: node1}\n", `via "node1" fetches the CA from the registry, but registry r also has ca_file`},
		{"bad-expiry-window", "- hosts: all\n  registries: {r: {address: r.example, expiry_warning: soon}}\n", `registry "r": invalid expiry warning window "soon"`},
		{"ca-file-and-pem", "- hosts: all\n  registries: {r: {address: r.example, ca_file: a.pem, ca_pem: x}}\n", "both ca_file and ca_pem"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("pb.yml", []byte(c.yaml))
			if err == nil {
				t.Fatalf("Parse succeeded; want an error containing %q", c.err)
			}
			if !strings.Contains(err.Error(), c.err) {
				t.Errorf("error = %q; want it to contain %q", err, c.err)
			}
			if !strings.HasPrefix(err.Error(), "pb.yml") {
				t.Errorf("error = %q; want it to start with the file name", err)
			}
		})
	}
}

func TestParseHostsList(t *testing.T) {
	tests := []struct {
		name, hosts, want, err string
	}{
		{"pattern", "docker_hosts:!canary", "docker_hosts:!canary", ""},
		{"list", "[web, db01, '!db02']", "web,db01,!db02", ""},
		{"block-list", "\n    - web\n    - '&prod'", "web,&prod", ""},
		{"empty-list", "[]", "", "hosts is empty"},
		{"nested-list", "[[web]]", "", "each entry of hosts must be a string"},
		{"comma-in-entry", "['web,db']", "", "contains a comma"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pb, err := Parse("pb.yml", []byte("- hosts: "+tt.hosts+"\n  tasks:\n    - update_ca:\n"))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("Parse error = %v; want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := pb.Plays[0].Hosts; got != tt.want {
				t.Errorf("hosts = %q; want %q", got, tt.want)
			}
		})
	}
}

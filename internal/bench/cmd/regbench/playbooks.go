package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/regtrust/regtrust/internal/lab"
)

// benchEntry is the insecure-registries entry both playbooks add.
const benchEntry = "legacy.lab.test:5000"

// writeRegtrustPlaybook writes the benchmark's playbook: the certs.d and
// daemon.json parts of examples/site.yml. The trust store part is left
// out because update-ca-certificates costs far more CPU on each host
// than everything else together, and would measure Debian's script, not
// the tool.
func writeRegtrustPlaybook(dir, address string) (string, error) {
	pb := fmt.Sprintf(`- name: Trust the lab registry
  hosts: docker_hosts
  registries:
    lab: {address: "%s"}
  tasks:
    - fetch_ca: {registry: lab}
    - place_docker_cert: {registry: lab}
    - daemon_json_insecure: {registries: ["%s"]}
      notify: restart_docker_if_changed
  handlers:
    - restart_docker_if_changed:
`, address, benchEntry)
	file := filepath.Join(dir, "site.yml")
	return file, os.WriteFile(file, []byte(pb), 0o644)
}

// writeAnsible writes an Ansible playbook that makes the same changes,
// and an ansible.cfg with the settings that make Ansible fast: SSH
// pipelining, ControlPersist, one fork per host and no fact gathering.
// It returns the folder holding both.
func writeAnsible(dir string, l *lab.Lab, forks int) (string, error) {
	adir := filepath.Join(dir, "ansible")
	if err := os.MkdirAll(adir, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(adir, "ca.crt"), l.Registry.CAPEM, 0o644); err != nil {
		return "", err
	}
	certsDir := "/etc/docker/certs.d/" + l.Registry.Address
	site := fmt.Sprintf(`- name: Trust the lab registry
  hosts: docker_hosts
  gather_facts: false
  tasks:
    - name: certs.d folder
      ansible.builtin.file: {path: "%s", state: directory, mode: "0755"}
    - name: CA in certs.d
      ansible.builtin.copy: {src: ca.crt, dest: "%s/ca.crt", mode: "0644"}
    - name: Read daemon.json
      ansible.builtin.slurp: {src: /etc/docker/daemon.json}
      register: daemon_json
    - name: Merge insecure-registries
      vars:
        current: "{{ daemon_json.content | b64decode | from_json }}"
        entries: "{{ (current['insecure-registries'] | default([]) + ['%s']) | unique }}"
      ansible.builtin.copy:
        dest: /etc/docker/daemon.json
        content: "{{ current | combine({'insecure-registries': entries}) | to_nice_json(indent=2) }}\n"
        mode: "0644"
`, certsDir, certsDir, benchEntry)
	if err := os.WriteFile(filepath.Join(adir, "site.yml"), []byte(site), 0o644); err != nil {
		return "", err
	}
	cfg := fmt.Sprintf(`[defaults]
forks = %d
interpreter_python = /usr/bin/python3
host_key_checking = True
stdout_callback = default
retry_files_enabled = False

[ssh_connection]
pipelining = True
ssh_args = -F /dev/null -o ControlMaster=auto -o ControlPersist=120s -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes
control_path_dir = %s
`, forks, l.KnownHosts, filepath.Join(adir, "cp"))
	return adir, os.WriteFile(filepath.Join(adir, "ansible.cfg"), []byte(cfg), 0o644)
}

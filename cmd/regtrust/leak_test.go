package main

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regtrust/regtrust/internal/sshtest"
	"github.com/regtrust/regtrust/internal/testpki"
)

// TestSecretsNeverInOutput runs the command's scenarios (check with
// diff, plan, apply, a real run, a second run, inventory listing) with
// known secrets: a client private key, a registry password and a sudo
// password. None of them, nor the registry's base64 auth string, may
// appear in standard output, standard error, the JSON report, the
// metrics file or the plan file.
func TestSecretsNeverInOutput(t *testing.T) {
	const (
		registryPassword = "reg-Pa55-word-7f3a"
		sudoPassword     = "sudo-Pa55-word-91c2"
	)
	if _, err := os.Stat("/usr/bin/sudo"); err != nil {
		t.Fatalf("sudo is needed for the become scenario: install the sudo package")
	}
	srv := sshtest.NewServer(t)
	root := t.TempDir()
	dir := t.TempDir()
	_, caPEM := testpki.NewCA(t, "Leak Root")
	clientCert, clientKey := leafPair(t)
	files := map[string][]byte{"ca.pem": caPEM, "client.cert": clientCert, "client.key": clientKey, "registry-password": []byte(registryPassword + "\n")}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	inv := filepath.Join(dir, "inventory.yml")
	os.WriteFile(inv, []byte(fmt.Sprintf(`all:
  hosts:
    node1:
      ansible_host: 127.0.0.1
      ansible_port: %d
      ansible_user: %s
      ansible_ssh_private_key_file: %s
      docker_certs_dir: %s/certs.d
      docker_config_json: %s/config.json
      ansible_become_password: %s
`, srv.Port, srv.User, srv.ClientKeyFile, root, root, sudoPassword)), 0o644)
	pb := filepath.Join(dir, "site.yml")
	os.WriteFile(pb, []byte(`- hosts: all
  become: true
  registries:
    lab: {address: "registry.lab.test:5000", ca_file: ca.pem, client_cert: client.cert, client_key: client.key}
  tasks:
    - place_docker_cert: {registry: lab}
    - registry_login: {registry: lab, username: ci, password_file: registry-password}
`), 0o644)

	var outputs []string
	report := filepath.Join(dir, "report.json")
	metrics := filepath.Join(dir, "metrics.prom")
	plan := filepath.Join(dir, "plan.json")
	common := []string{"-i", inv, "--known-hosts", srv.KnownHostsFile, "--report", report, "--metrics", metrics}
	scenarios := [][]string{
		append([]string{"run", pb, "--check", "--diff"}, common...),
		append([]string{"run", pb, "--plan", plan}, common...),
		{"apply", plan, "--known-hosts", srv.KnownHostsFile},
		append([]string{"run", pb, "--diff"}, common...),
		append([]string{"run", pb, "--diff", "--check"}, common...),
		{"inventory", "-i", inv, "--list"},
		{"inventory", "-i", inv, "--graph"},
	}
	for i, args := range scenarios {
		code, out, errOut := runCLI(args...)
		t.Logf("scenario %d %v: exit %d", i, args[0], code)
		if code != 0 && code != 2 {
			t.Errorf("scenario %d (%s): exit %d\n%s\n%s", i, strings.Join(args, " "), code, out, errOut)
		}
		outputs = append(outputs, out, errOut)
		for _, f := range []string{report, metrics, plan} {
			if data, err := os.ReadFile(f); err == nil {
				outputs = append(outputs, string(data))
			}
		}
	}

	if all := strings.Join(outputs, "\n"); !strings.Contains(all, "registry_login") || !strings.Contains(all, "client.key") {
		t.Fatalf("the outputs never mention registry_login and client.key, so the search below proves nothing")
	}
	keyBody := strings.Split(strings.TrimSpace(string(clientKey)), "\n")[1]
	auth := base64.StdEncoding.EncodeToString([]byte("ci:" + registryPassword))
	secrets := map[string]string{
		"registry password": registryPassword,
		"sudo password":     sudoPassword,
		"client key":        keyBody,
		"registry auth":     auth,
	}
	for name, s := range secrets {
		for i, out := range outputs {
			if strings.Contains(out, s) {
				t.Errorf("the %s appears in output %d:\n%s", name, i, out)
			}
		}
	}

	// The run did happen: the key and the login are on the host, with
	// modes that keep them private.
	for _, f := range []string{"certs.d/registry.lab.test:5000/client.key", "config.json"} {
		info, err := os.Stat(filepath.Join(root, f))
		if err != nil {
			t.Errorf("%s was not written: %v", f, err)
			continue
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %04o; want 0600", f, info.Mode().Perm())
		}
	}
	config, _ := os.ReadFile(filepath.Join(root, "config.json"))
	if !strings.Contains(string(config), auth) {
		t.Errorf("config.json does not hold the login")
	}
}

package playbook

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunRegistryLoginKeepsPasswordSecret(t *testing.T) {
	const password = "pw-that-must-not-leak"
	t.Setenv("REGTRUST_TEST_REGISTRY_PASSWORD", password)
	f := newFleet(t, 1, "")
	config := filepath.Join(f.roots[0], "docker", "config.json")
	pb := `- hosts: docker_hosts
  registries:
    lab: {address: registry.lab.test:5000}
  tasks:
    - registry_login: {registry: lab, username: ci, password_env: REGTRUST_TEST_REGISTRY_PASSWORD, config: "` + config + `"}
`
	auth := base64.StdEncoding.EncodeToString([]byte("ci:" + password))
	for _, check := range []bool{true, false} {
		rep, out, err := f.run(t, pb, check)
		if err != nil {
			t.Fatalf("Run (check %v): %v", check, err)
		}
		report, err := json.Marshal(rep)
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range []string{out, string(report)} {
			if strings.Contains(text, password) || strings.Contains(text, auth) {
				t.Errorf("check %v: the password appears in the output or report:\n%s", check, text)
			}
		}
		if rep.Totals.Changed != 1 {
			t.Errorf("check %v: totals %+v; want 1 changed\n%s", check, rep.Totals, out)
		}
	}
	data, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), auth) {
		t.Errorf("config.json lacks the auth entry")
	}
}

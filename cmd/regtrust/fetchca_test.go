package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regtrust/regtrust/internal/certs"
	"github.com/regtrust/regtrust/internal/sshtest"
	"github.com/regtrust/regtrust/internal/testpki"
)

const hiddenName = "registry.only-on-hosts.test"

// viaSetup starts a registry that only an in-process SSH host resolves and
// writes an inventory with that host as node1.
func viaSetup(t *testing.T) (reg *testpki.Registry, inventoryFile, knownHosts string) {
	t.Helper()
	reg = testpki.NewRegistry(t, "Hidden Root", hiddenName)
	srv := sshtest.NewServer(t, sshtest.WithForwardHosts(map[string]string{hiddenName: "127.0.0.1"}))
	inventoryFile = filepath.Join(t.TempDir(), "inventory.yml")
	inv := fmt.Sprintf("all:\n  hosts:\n    node1: {ansible_host: 127.0.0.1, ansible_port: %d, ansible_user: %s, ansible_ssh_private_key_file: %s}\n",
		srv.Port, srv.User, srv.ClientKeyFile)
	if err := os.WriteFile(inventoryFile, []byte(inv), 0o644); err != nil {
		t.Fatal(err)
	}
	return reg, inventoryFile, srv.KnownHostsFile
}

func TestFetchCAThroughHost(t *testing.T) {
	reg, inv, known := viaSetup(t)
	address := fmt.Sprintf("%s:%d", hiddenName, reg.Port)
	fingerprint := certs.Fingerprint(reg.CA)

	// The test registry's root is valid for a year; a window longer
	// than that shows the expiry warning.
	code, out, errOut := runCLI("fetch-ca", address, "--via", "node1", "-i", inv, "--known-hosts", known, "--expiry-warning", "400d")
	if code != 0 {
		t.Fatalf("exit %d; want 0\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"Certificates sent by " + address + " (through node1), leaf first:",
		`  1. subject: "CN=` + hiddenName + `"`,
		`  2. subject: "CN=Hidden Root"`,
		"     sha256:  " + fingerprint,
		`CA to trust: certificate 2, "CN=Hidden Root"`,
		"because it is the self-signed root at the end of the chain the registry sent",
		`warning: CA certificate "CN=Hidden Root" expires on`,
		`  ca_sha256: "` + fingerprint + `"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runCLI("fetch-ca", address, "--via", "node1", "-i", inv, "--known-hosts", known, "--expiry-warning", "0")
	if code != 0 || strings.Contains(out, "expires on") {
		t.Errorf("--expiry-warning 0: exit %d, output %q; want exit 0 and no expiry warning", code, out)
	}
}

func TestFetchCAErrors(t *testing.T) {
	reg, inv, known := viaSetup(t)
	byIP := fmt.Sprintf("127.0.0.1:%d", reg.Port)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "no-address", args: nil, wantErr: "give exactly one registry address, got 0 arguments"},
		{name: "via-without-inventory", args: []string{"r.example", "--via", "node1"}, wantErr: "--via node1 needs the inventory"},
		{name: "invalid-address", args: []string{"https://r.example"}, wantErr: `invalid registry address "https://r.example": remove the scheme`},
		{name: "no-ip-san", args: []string{byIP}, wantErr: "certificate has no IP subjectAltName, so it is not valid for the IP address 127.0.0.1"},
		{name: "unknown-via-host", args: []string{byIP, "--via", "node7", "-i", inv, "--known-hosts", known}, wantErr: `fetch the CA via host "node7": the host is not in the inventory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(append([]string{"fetch-ca"}, tt.args...)...)
			if code != 1 {
				t.Errorf("exit %d; want 1\n%s", code, out)
			}
			if !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("stderr = %q; want it to contain %q", errOut, tt.wantErr)
			}
		})
	}
}

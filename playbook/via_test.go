package playbook

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regtrust/regtrust/internal/certs"
	"github.com/regtrust/regtrust/internal/sshtest"
	"github.com/regtrust/regtrust/internal/testpki"
)

// hostOnlyName is a registry name that only the test SSH servers resolve,
// as a name in the hosts' private DNS would be.
const hostOnlyName = "registry.only-on-hosts.test"

func viaPlaybook(address, via string) string {
	return fmt.Sprintf(`- hosts: docker_hosts
  registries:
    lab: {address: "%s"}
  tasks:
    - fetch_ca: {registry: lab, via: %s}
    - place_docker_cert: {registry: lab}
`, address, via)
}

func TestRunFetchViaHost(t *testing.T) {
	reg := testpki.NewRegistry(t, "Hidden Root", hostOnlyName)
	f := newFleet(t, 2, "", sshtest.WithForwardHosts(map[string]string{hostOnlyName: "127.0.0.1"}))
	address := fmt.Sprintf("%s:%d", hostOnlyName, reg.Port)

	rep, out, err := f.run(t, viaPlaybook(address, "node2"), false)
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	if rep.Totals.Changed != 2 {
		t.Errorf("totals %+v; want 2 changed\n%s", rep.Totals, out)
	}
	if got := f.servers[1].Forwards(); got != 1 {
		t.Errorf("node2 forwarded %d connections; want 1 (the CA fetch)", got)
	}
	if got := f.servers[0].Forwards(); got != 0 {
		t.Errorf("node1 forwarded %d connections; want 0", got)
	}
	for i, srv := range f.servers {
		if got := srv.Conns(); got != 1 {
			t.Errorf("node%d: %d SSH connections; want 1 per host and run", i+1, got)
		}
		ca, err := os.ReadFile(filepath.Join(f.roots[i], "certs.d", address, "ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		if string(ca) != string(reg.CAPEM) {
			t.Errorf("node%d ca.crt = %q; want the hidden root", i+1, ca)
		}
	}
	if want := "through node2"; !strings.Contains(out, want) {
		t.Errorf("output does not say the CA came %s:\n%s", want, out)
	}
	if fp := certs.Fingerprint(reg.CA); !strings.Contains(out, fp) {
		t.Errorf("output lacks the CA fingerprint %s:\n%s", fp, out)
	}
}

func TestRunFetchViaHostFailsBeforeChanges(t *testing.T) {
	reg := testpki.NewRegistry(t, "Hidden Root", hostOnlyName)
	address := fmt.Sprintf("%s:%d", hostOnlyName, reg.Port)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := l.Addr().(*net.TCPAddr).Port
	l.Close()
	key, _ := sshtest.NewKey(t)
	gone := fmt.Sprintf("        gone:\n          ansible_host: 127.0.0.1\n          ansible_port: %d\n          ansible_user: tester\n          ansible_ssh_private_key_file: %s\n",
		closedPort, sshtest.WriteKeyFile(t, key, ""))

	tests := []struct {
		name    string
		via     string
		forward bool
		wantErr string
	}{
		{name: "not-in-inventory", via: "node9", forward: true, wantErr: `fetch the CA via host "node9": the host is not in the inventory`},
		{name: "unreachable", via: "gone", forward: true, wantErr: "fetch the CA via host gone: connect to 127.0.0.1:"},
		{name: "host-cannot-resolve", via: "node1", wantErr: "registry lab: fetch CA from " + address},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []sshtest.Option
			if tt.forward {
				opts = append(opts, sshtest.WithForwardHosts(map[string]string{hostOnlyName: "127.0.0.1"}))
			}
			f := newFleet(t, 2, gone, opts...)
			before := []map[string]string{snapshot(t, f.roots[0]), snapshot(t, f.roots[1])}
			_, out, err := f.run(t, viaPlaybook(address, tt.via), false)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Run error = %v; want it to contain %q\n%s", err, tt.wantErr, out)
			}
			for i, srv := range f.servers {
				if got := srv.Sessions(); got != 0 {
					t.Errorf("node%d: %d sessions; want none before the CA is known", i+1, got)
				}
				if after := snapshot(t, f.roots[i]); len(after) != len(before[i]) {
					t.Errorf("node%d files changed: %v -> %v", i+1, before[i], after)
				}
			}
		})
	}
}

func TestRunPlayVarsOverrideInventory(t *testing.T) {
	caPEM, _ := testCAPEM(t, "Lab Root")
	f := newFleet(t, 1, "      vars:\n        container_runtime: docker\n")
	inv, err := os.ReadFile(f.inventory)
	if err != nil {
		t.Fatal(err)
	}
	extra := fmt.Sprintf("          containers_certs_dir: %s/containers-certs.d\n", f.roots[0])
	inv = []byte(strings.Replace(string(inv), "          docker_certs_dir:", extra+"          docker_certs_dir:", 1))
	if err := os.WriteFile(f.inventory, inv, 0o644); err != nil {
		t.Fatal(err)
	}
	pb := strings.Replace(sitePlaybook(caPEM), "  registries:", "  vars:\n    container_runtime: podman\n  registries:", 1)

	if _, out, err := f.run(t, pb, false); err != nil {
		t.Fatalf("Run: %v\n%s", err, out)
	}
	podman := filepath.Join(f.roots[0], "containers-certs.d", "registry.lab.test:5000", "ca.crt")
	if _, err := os.Stat(podman); err != nil {
		t.Errorf("play vars container_runtime=podman did not win over the inventory's docker: %v", err)
	}
	docker := filepath.Join(f.roots[0], "certs.d", "registry.lab.test:5000", "ca.crt")
	if _, err := os.Stat(docker); !os.IsNotExist(err) {
		t.Errorf("%s was written; want only the podman folder (stat error %v)", docker, err)
	}
}

func TestRunReportsExpiryWarnings(t *testing.T) {
	// testpki certificates expire a day after they are made, inside the
	// default window of 30 days.
	_, caData := testpki.NewCAValidFor(t, "Short Lived Root", 24*time.Hour)
	caPEM := string(caData)
	f := newFleet(t, 1, "")
	rep, out, err := f.run(t, sitePlaybook(caPEM), true)
	if err != nil {
		t.Fatal(err)
	}
	want := `registry lab: CA certificate "CN=Short Lived Root" expires on`
	if len(rep.Warnings) != 1 || !strings.HasPrefix(rep.Warnings[0], want) {
		t.Errorf("report warnings = %q; want one starting with %q", rep.Warnings, want)
	}
	if !strings.Contains(out, "warning: "+want) {
		t.Errorf("output lacks the warning %q:\n%s", want, out)
	}
}

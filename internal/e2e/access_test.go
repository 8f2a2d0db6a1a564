package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/regtrust/regtrust/internal/lab"
	"github.com/regtrust/regtrust/internal/lab/labtest"
)

const (
	sudoUser = "deploy"
	// sudoPassword is the lab user's sudo password. The test checks
	// that it appears in no output.
	sudoPassword = "lab-sudo-Pw-4711"
	// certsPlaybook places the registry CA in certs.d on every host.
	certsPlaybook = `- name: Trust the lab registry as a sudo user
  hosts: docker_hosts
  registries:
    lab: {address: %s, ca_sha256: "%s"}
  tasks:
    - fetch_ca: {registry: lab}
    - place_docker_cert: {registry: lab}
`
)

// TestAccess drives regtrust over a lab whose hosts accept only a
// non-root user with a sudo password, with node2 reachable only through
// a bastion that the lab's ssh config names, and with an extra host
// that nothing listens for.
func TestAccess(t *testing.T) {
	labtest.Require(t)
	bin := buildCLI(t)
	l := labtest.Start(t, lab.Options{
		Hosts:        3,
		SudoUser:     sudoUser,
		SudoPassword: sudoPassword,
		HiddenHosts:  []string{"node2"},
		Groups:       map[string][]string{},
	})
	c := &cli{bin: bin, lab: l, dir: t.TempDir()}
	site := filepath.Join(c.dir, "site.yml")
	if err := os.WriteFile(site, []byte(fmt.Sprintf(certsPlaybook, l.Registry.Address, l.Registry.CASHA256)), 0o644); err != nil {
		t.Fatal(err)
	}
	gone := filepath.Join(c.dir, "gone.yml")
	goneInventory := fmt.Sprintf("all:\n  children:\n    docker_hosts:\n      hosts:\n        gone:\n          ansible_host: 127.0.0.1\n          ansible_port: %d\n          ansible_user: root\n          ansible_ssh_private_key_file: %s\n",
		closedLoopbackPort(t), l.PrivateKey)
	if err := os.WriteFile(gone, []byte(goneInventory), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LAB_SUDO_PASSWORD", sudoPassword)
	access := []string{"--ssh-config", l.SSHConfig, "--become-password-env", "LAB_SUDO_PASSWORD", "--connect-retries", "1"}
	caPath := path.Join("/etc/docker/certs.d", l.Registry.Address, "ca.crt")

	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}

	step("hidden-host-unreachable-directly", func(t *testing.T) {
		node2, err := l.Host("node2")
		if err != nil {
			t.Fatal(err)
		}
		conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(node2.Port)))
		if err == nil {
			conn.Close()
			t.Fatalf("dial node2's port %d on the machine succeeded; want it reachable only through the bastion", node2.Port)
		}
	})

	step("wrong-host-key-refused", func(t *testing.T) {
		node3, err := l.Host("node3")
		if err != nil {
			t.Fatal(err)
		}
		impostor := replaceHostKey(t, l.KnownHosts, node3.Port, filepath.Join(c.dir, "known_hosts-wrong"))
		wrong := &cli{bin: bin, lab: l, dir: c.dir, knownHosts: impostor.file}
		res := wrong.run(t, site, append([]string{"--check"}, access...)...)
		if res.report == nil {
			t.Fatal("no report written")
		}
		h := res.report.host(t, "node3")
		if h.Status != "unreachable" {
			t.Errorf("node3 status = %s; want unreachable", h.Status)
		}
		offered := hostKeyFingerprint(t, l, "node3")
		for _, want := range []string{"CHANGED", offered, impostor.fingerprint} {
			if !strings.Contains(h.Error, want) {
				t.Errorf("node3 error = %q; want it to contain %q", h.Error, want)
			}
		}
		for _, other := range []string{"node1", "node2"} {
			if got := res.report.host(t, other).Status; got != "changed" {
				t.Errorf("%s status = %s; want changed (pending) despite node3", other, got)
			}
		}
	})

	step("converge-as-sudo-user", func(t *testing.T) {
		res := c.run(t, site, append([]string{"-i", gone, "--detailed-exitcode"}, access...)...)
		if res.exit != 6 {
			t.Errorf("exit = %d; want 6 (changes and an unreachable host)", res.exit)
		}
		r := res.report
		if r == nil {
			t.Fatal("no report written")
		}
		for _, host := range []string{"node1", "node2", "node3"} {
			if h := r.host(t, host); h.Status != "changed" {
				t.Errorf("%s status = %s (%s); want changed", host, h.Status, h.Error)
			}
			out, err := l.Exec(t.Context(), host, "stat", "-c", "%u %g %a", caPath)
			if err != nil {
				t.Errorf("%s: stat %s: %v: %s", host, caPath, err, out)
				continue
			}
			if got := strings.TrimSpace(string(out)); got != "0 0 644" {
				t.Errorf("%s %s owner, group, mode = %s; want 0 0 644", host, caPath, got)
			}
		}
		h := r.host(t, "gone")
		if h.Status != "unreachable" || !strings.Contains(h.Error, "2 attempts") {
			t.Errorf("gone status = %s, error %q; want unreachable after 2 attempts", h.Status, h.Error)
		}
		if strings.Contains(res.stdout+res.stderr, sudoPassword) {
			t.Errorf("output contains the sudo password")
		}
		reportBytes := fmt.Sprint(r)
		if strings.Contains(reportBytes, sudoPassword) {
			t.Errorf("report contains the sudo password")
		}
		staged, _ := filepath.Glob("/tmp/.regtrust-stage-*")
		for _, dir := range staged {
			if info, err := os.Stat(dir); err == nil && fileUID(info) == 2742 {
				t.Errorf("staging folder %s left behind", dir)
			}
		}
	})

	step("second-run-changes-nothing", func(t *testing.T) {
		res := c.run(t, site, append([]string{"--detailed-exitcode"}, access...)...)
		if res.exit != 0 {
			t.Errorf("exit = %d; want 0 (nothing to change)", res.exit)
		}
	})
}

func closedLoopbackPort(t *testing.T) int {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := listener.Addr().(*net.TCPAddr).Port
	listener.Close()
	return port
}

type impostorKey struct {
	file        string
	fingerprint string
}

// replaceHostKey copies a known_hosts file to dst with the line for
// [127.0.0.1]:port listing a fresh key instead.
func replaceHostKey(t *testing.T, src string, port int, dst string) impostorKey {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("[127.0.0.1]:%d ", port)
	var lines []string
	replaced := false
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if strings.HasPrefix(line, prefix) {
			line = prefix + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
			replaced = true
		}
		lines = append(lines, line)
	}
	if !replaced {
		t.Fatalf("known_hosts %s has no line for %s", src, prefix)
	}
	if err := os.WriteFile(dst, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return impostorKey{file: dst, fingerprint: ssh.FingerprintSHA256(key)}
}

// hostKeyFingerprint returns the SHA256 fingerprint of the key that a
// lab host's sshd presents, read from the lab's known_hosts file.
func hostKeyFingerprint(t *testing.T, l *lab.Lab, name string) string {
	t.Helper()
	h, err := l.Host(name)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(l.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	rest := data
	for len(rest) > 0 {
		_, hosts, key, _, next, err := ssh.ParseKnownHosts(rest)
		if err != nil {
			break
		}
		for _, host := range hosts {
			if host == fmt.Sprintf("[127.0.0.1]:%d", h.Port) {
				return ssh.FingerprintSHA256(key)
			}
		}
		rest = next
	}
	t.Fatalf("no known_hosts line for %s", name)
	return ""
}

package e2e

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/regtrust/regtrust/internal/lab"
	"github.com/regtrust/regtrust/internal/lab/labtest"
)

// writePlaybook writes text as a playbook in the test's folder.
func (c *cli) writePlaybook(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(c.dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// pemBlocks returns the DER bytes of each CERTIFICATE block in data.
func pemBlocks(data []byte) [][]byte {
	var blocks [][]byte
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return blocks
		}
		if b.Type == "CERTIFICATE" {
			blocks = append(blocks, b.Bytes)
		}
	}
}

// startTrustLab starts a lab with opts and returns it with a cli that runs
// bin against it.
func startTrustLab(t *testing.T, bin string, opts lab.Options) (*lab.Lab, *cli) {
	t.Helper()
	l := labtest.Start(t, opts)
	return l, &cli{bin: bin, lab: l, dir: t.TempDir()}
}

// familiesPlaybook trusts the registry through certs.d on node1, and
// through the OS trust store on hosts that look like other families. The
// placeholders are the registry address and the CA bundle file.
const familiesPlaybook = `- name: certs.d on the Debian host with dockerd
  hosts: node1
  registries:
    lab: {address: "%[1]s"}
  tasks:
    - fetch_ca: {registry: lab}
    - place_docker_cert: {registry: lab}
- name: Trust store of hosts that look like other families
  hosts: node2:node4
  registries:
    bundle: {address: "%[1]s", ca_file: "%[2]s"}
  tasks:
    - place_system_cert: {registry: bundle}
      notify: update_ca
  handlers:
    - update_ca:
- name: Families whose update command Debian does not package
  hosts: node3:node5
  vars:
    ca_update_command: echo "$(grep ^ID= /etc/os-release) update-ca-trust" >> /var/lib/regtrust/update-ca-trust.calls
  registries:
    bundle: {address: "%[1]s", ca_file: "%[2]s"}
  tasks:
    - place_system_cert: {registry: bundle}
      notify: update_ca
  handlers:
    - update_ca:
`

// osReleases makes lab hosts look like other OS families.
var osReleases = map[string]string{
	"node2": "ID=alpine\nNAME=\"Alpine Linux\"\n",
	"node3": "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n",
	"node4": "ID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"\n",
	"node5": "ID=arch\n",
}

// TestIntermediateChainAndFamilies runs against a registry that sends its
// leaf and intermediate but not the root. node1 (dockerd) trusts the
// topmost certificate sent through certs.d and pulls. node2 to node5 look
// like Alpine, Rocky, openSUSE and Arch and get a CA file that holds the
// root and the intermediate, with CRLF line endings and a byte order mark.
//
// Commands that run for real: update-ca-certificates on the Alpine and
// openSUSE hosts (Debian's own, which on openSUSE does not read
// /etc/pki/trust/anchors). Commands that cannot run, because Debian does
// not package them: update-ca-trust of Rocky and Arch, replaced by a
// ca_update_command stand-in that records its call.
func TestIntermediateChainAndFamilies(t *testing.T) {
	labtest.Require(t)
	bin := buildCLI(t)
	l, c := startTrustLab(t, bin, lab.Options{Hosts: 5, DockerHosts: 1, Chain: lab.ChainIntermediate, Groups: map[string][]string{}})
	for host, release := range osReleases {
		if err := l.WriteFile(host, "/etc/os-release", []byte(release), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sent := pemBlocks(l.Registry.ChainPEM)
	if len(sent) != 2 {
		t.Fatalf("lab registry sends %d certificates; want leaf and intermediate", len(sent))
	}
	intermediatePEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sent[1]})
	bundle := append([]byte("\xEF\xBB\xBFroot and intermediate of the lab\r\n"), l.Registry.CAPEM...)
	bundle = append(bundle, intermediatePEM...)
	bundle = bytes.ReplaceAll(bundle, []byte("\n"), []byte("\r\n"))
	bundle = bytes.ReplaceAll(bundle, []byte("\r\r\n"), []byte("\r\n"))
	bundleFile := filepath.Join(c.dir, "bundle.pem")
	if err := os.WriteFile(bundleFile, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	pb := c.writePlaybook(t, "families.yml", fmt.Sprintf(familiesPlaybook, l.Registry.Address, bundleFile))

	if out, ok := pull(t, l, "node1"); ok || !strings.Contains(out, x509UnknownAuthority) {
		t.Fatalf("node1: pull before the run: succeeded=%v, output %q; want %q", ok, out, x509UnknownAuthority)
	}

	res := c.run(t, pb, "--expiry-warning", "120d")
	if res.exit != 0 {
		t.Fatalf("exit = %d; want 0", res.exit)
	}
	t.Run("topmost-certificate-with-warning", func(t *testing.T) {
		want := `the registry did not send its root CA "CN=regtrust lab root CA,O=regtrust lab"`
		if !strings.Contains(res.stdout, "warning: registry lab: "+want) {
			t.Errorf("output lacks the warning %q", want)
		}
		ca, err := l.ReadFile("node1", path.Join("/etc/docker/certs.d", l.Registry.Address, "ca.crt"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ca, intermediatePEM) {
			t.Errorf("node1 ca.crt = %q; want the intermediate, the topmost certificate sent", ca)
		}
		if out, ok := pull(t, l, "node1"); !ok {
			t.Errorf("node1: pull after the run failed\n%s", out)
		}
	})
	t.Run("expiry-warning-in-report", func(t *testing.T) {
		// Lab certificates are valid for 90 days, inside the window of
		// 120 days this run sets.
		var expiring []string
		for _, w := range res.report.Warnings {
			if strings.Contains(w, "expires on") {
				expiring = append(expiring, w)
			}
		}
		if len(expiring) == 0 {
			t.Errorf("report warnings %q; want expiry warnings", res.report.Warnings)
		}
	})
	anchors := map[string]string{
		"node2": "/usr/local/share/ca-certificates",
		"node3": "/etc/pki/ca-trust/source/anchors",
		"node4": "/etc/pki/trust/anchors",
		"node5": "/etc/ca-certificates/trust-source/anchors",
	}
	for host, dir := range anchors {
		t.Run("anchors-"+host, func(t *testing.T) {
			for i, want := range [][]byte{l.Registry.CAPEM, intermediatePEM} {
				name := path.Join(dir, []string{"regtrust-bundle.crt", "regtrust-bundle+2.crt"}[i])
				got, err := l.ReadFile(host, name)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s %s = %q; want one certificate as LF PEM %q", host, name, got, want)
				}
			}
			if got := res.report.host(t, host).Handlers; len(got) != 1 || got[0] != "update_ca" {
				t.Errorf("%s handlers = %v; want [update_ca]", host, got)
			}
			wantCommand := map[string]string{"node2": "update-ca-certificates (", "node4": "update-ca-certificates ("}[host]
			if wantCommand == "" {
				wantCommand = "echo "
			}
			ran := 0
			for _, tr := range res.report.host(t, host).Tasks {
				if tr.Task != "update_ca" {
					continue
				}
				ran++
				if !strings.HasPrefix(tr.Message, wantCommand) {
					t.Errorf("%s update_ca ran %q; want %q first", host, tr.Message, wantCommand)
				}
			}
			if ran != 1 {
				t.Errorf("%s: update_ca ran %d times; want 1", host, ran)
			}
		})
	}
	t.Run("real-update-on-alpine", func(t *testing.T) {
		bundle, err := l.ReadFile("node2", "/etc/ssl/certs/ca-certificates.crt")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range [][]byte{l.Registry.CAPEM, intermediatePEM} {
			if !containsCert(t, bundle, want) {
				t.Errorf("node2 system bundle lacks %q", want)
			}
		}
	})
	t.Run("stand-in-update-recorded", func(t *testing.T) {
		for host, id := range map[string]string{"node3": `ID="rocky"`, "node5": "ID=arch"} {
			calls, err := l.ReadFile(host, "/var/lib/regtrust/update-ca-trust.calls")
			if err != nil {
				t.Fatal(err)
			}
			if want := id + " update-ca-trust\n"; string(calls) != want {
				t.Errorf("%s stand-in calls = %q; want %q", host, calls, want)
			}
		}
	})
}

// TestSelfSignedRegistry trusts a registry whose certificate is a
// self-signed leaf and pulls from it.
func TestSelfSignedRegistry(t *testing.T) {
	labtest.Require(t)
	bin := buildCLI(t)
	l, c := startTrustLab(t, bin, lab.Options{Hosts: 1, DockerHosts: 1, Chain: lab.ChainSelfSigned, Groups: map[string][]string{}})
	pb := c.writePlaybook(t, "self-signed.yml", fmt.Sprintf(`- hosts: node1
  registries:
    lab: {address: "%s", ca_sha256: "%s"}
  tasks:
    - fetch_ca: {registry: lab}
    - place_docker_cert: {registry: lab}
`, l.Registry.Address, strings.ToLower(strings.ReplaceAll(l.Registry.CASHA256, ":", ""))))

	res := c.run(t, pb)
	if res.exit != 0 {
		t.Fatalf("exit = %d; want 0", res.exit)
	}
	if want := `warning: registry lab: the registry's certificate "CN=regtrust lab registry,O=regtrust lab" is a self-signed leaf`; !strings.Contains(res.stdout, want) {
		t.Errorf("output lacks %q", want)
	}
	ca, err := l.ReadFile("node1", path.Join("/etc/docker/certs.d", l.Registry.Address, "ca.crt"))
	if err != nil || !bytes.Equal(ca, l.Registry.CAPEM) {
		t.Errorf("node1 ca.crt = %q, %v; want the self-signed leaf", ca, err)
	}
	if out, ok := pull(t, l, "node1"); !ok {
		t.Errorf("node1: pull after the run failed\n%s", out)
	}
}

// hostOnlyPlaybook fetches the CA through node1, where the registry's
// name resolves, and trusts it in Docker's certs.d and in containerd on
// node1. node2 gets a registry login. The placeholder is the address.
const hostOnlyPlaybook = `- name: Docker on node1, CA fetched through node1
  hosts: node1
  registries:
    lab: {address: "%[1]s"}
  tasks:
    - fetch_ca: {registry: lab, via: node1}
    - place_docker_cert: {registry: lab}
- name: containerd on node1
  hosts: node1
  vars: {container_runtime: containerd}
  registries:
    lab: {address: "%[1]s", via: node1}
  tasks:
    - fetch_ca: {registry: lab}
    - place_docker_cert: {registry: lab}
- name: Registry login on node2
  hosts: node2
  tasks:
    - registry_login: {address: "%[1]s", username: ci, password_env: REGTRUST_LAB_PASSWORD}
`

// TestHostOnlyRegistry runs against a registry whose certificate names
// only registry.lab, no IP address. By IP, it is rejected before any host
// changes. Only node1 resolves the name, through its private /etc/hosts,
// so fetching by name works only through node1's SSH connection.
func TestHostOnlyRegistry(t *testing.T) {
	labtest.Require(t)
	bin := buildCLI(t)
	l, c := startTrustLab(t, bin, lab.Options{
		Hosts:             2,
		DockerHosts:       1,
		Chain:             lab.ChainNoIPSAN,
		Groups:            map[string][]string{},
		RegistryNameHosts: []string{"node1"},
	})
	ip, _, err := net.SplitHostPort(l.Registry.Address)
	if err != nil {
		t.Fatal(err)
	}
	byName := lab.RegistryDNSName + ":" + fmt.Sprint(lab.RegistryPort)

	t.Run("ip-without-san-rejected-before-changes", func(t *testing.T) {
		before := snapshot(t, l)
		pb := c.writePlaybook(t, "by-ip.yml", fmt.Sprintf(`- hosts: all
  registries:
    lab: {address: "%s"}
  tasks:
    - fetch_ca: {registry: lab}
    - place_docker_cert: {registry: lab}
`, l.Registry.Address))
		res := c.run(t, pb)
		if res.exit != 1 {
			t.Errorf("exit = %d; want 1", res.exit)
		}
		want := "certificate has no IP subjectAltName, so it is not valid for the IP address " + ip
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
		if d := diffSnapshots(before, snapshot(t, l)); len(d) > 0 {
			t.Errorf("a rejected certificate changed hosts:\n%s", strings.Join(d, "\n"))
		}
		res = c.exec(t, "fetch-ca", l.Registry.Address)
		if res.exit != 1 || !strings.Contains(res.stderr, want) {
			t.Errorf("fetch-ca by IP: exit %d, stderr %q; want 1 and %q", res.exit, res.stderr, want)
		}
	})

	t.Run("fetch-ca-only-through-host", func(t *testing.T) {
		res := c.exec(t, "fetch-ca", byName)
		if res.exit != 1 {
			t.Errorf("fetch-ca %s from the controller: exit %d; want 1, because only node1 resolves the name", byName, res.exit)
		}
		res = c.exec(t, "fetch-ca", byName, "--via", "node1", "-i", l.Inventory, "--known-hosts", l.KnownHosts)
		if res.exit != 0 {
			t.Fatalf("fetch-ca --via node1: exit %d; want 0", res.exit)
		}
		for _, want := range []string{
			`CA to trust: certificate 2, "CN=regtrust lab root CA,O=regtrust lab"`,
			`ca_sha256: "` + l.Registry.CASHA256 + `"`,
		} {
			if !strings.Contains(res.stdout, want) {
				t.Errorf("fetch-ca output lacks %q", want)
			}
		}
	})

	const password = "lab-password-never-printed"
	t.Setenv("REGTRUST_LAB_PASSWORD", password)
	pb := c.writePlaybook(t, "host-only.yml", fmt.Sprintf(hostOnlyPlaybook, byName))
	var res result
	t.Run("run-fetches-once-through-host", func(t *testing.T) {
		res = c.run(t, pb, "--diff")
		if res.exit != 0 {
			t.Fatalf("exit = %d; want 0", res.exit)
		}
		if n := strings.Count(res.stdout, "registry lab ("+byName+"): CA"); n != 1 {
			t.Errorf("the CA was resolved %d times; want once per run", n)
		}
		if want := "from the TLS handshake with " + byName + " through node1"; !strings.Contains(res.stdout, want) {
			t.Errorf("output lacks %q", want)
		}
		image := byName + "/lab/hello:1"
		if out, err := l.Exec(t.Context(), "node1", "docker", "pull", image); err != nil {
			t.Errorf("node1: docker pull %s after the run failed: %v\n%s", image, err, out)
		}
	})
	t.Run("containerd-hosts-toml", func(t *testing.T) {
		dir := path.Join("/etc/containerd/certs.d", byName)
		data, err := l.ReadFile("node1", path.Join(dir, "hosts.toml"))
		if err != nil {
			t.Fatal(err)
		}
		var hostsFile struct {
			Server string `toml:"server"`
			Host   map[string]struct {
				CA string `toml:"ca"`
			} `toml:"host"`
		}
		if err := toml.Unmarshal(data, &hostsFile); err != nil {
			t.Fatalf("parse hosts.toml: %v\n%s", err, data)
		}
		url := "https://" + byName
		if hostsFile.Server != url {
			t.Errorf("server = %q; want %q", hostsFile.Server, url)
		}
		if got, want := hostsFile.Host[url].CA, path.Join(dir, "ca.crt"); got != want {
			t.Errorf("host.%q.ca = %q; want %q", url, got, want)
		}
		ca, err := l.ReadFile("node1", path.Join(dir, "ca.crt"))
		if err != nil || !bytes.Equal(ca, l.Registry.CAPEM) {
			t.Errorf("containerd ca.crt = %q, %v; want the root", ca, err)
		}
		// ctr reads hosts.toml with --hosts-dir, through the containerd
		// that dockerd runs.
		out, err := l.Exec(t.Context(), "node1", "ctr", "--address", "/run/docker/containerd/containerd.sock",
			"--namespace", "regtrust-lab", "images", "pull", "--hosts-dir", "/etc/containerd/certs.d", byName+"/lab/hello:1")
		if err != nil {
			t.Errorf("ctr pull through hosts.toml failed: %v\n%s", err, out)
		}
	})
	t.Run("registry-login", func(t *testing.T) {
		if strings.Contains(res.stdout+res.stderr, password) {
			t.Errorf("the password appears in the output")
		}
		data, err := l.ReadFile("node2", "/root/.docker/config.json")
		if err != nil {
			t.Fatal(err)
		}
		var config struct {
			Auths map[string]struct{ Auth string } `json:"auths"`
		}
		if err := json.Unmarshal(data, &config); err != nil {
			t.Fatal(err)
		}
		if config.Auths[byName].Auth == "" {
			t.Errorf("config.json has no auth for %s", byName)
		}
		out, err := l.Exec(t.Context(), "node2", "stat", "-c", "%a", "/root/.docker/config.json")
		if err != nil || strings.TrimSpace(string(out)) != "600" {
			t.Errorf("config.json mode = %s, %v; want 600", out, err)
		}
	})
	t.Run("second-run-changes-nothing", func(t *testing.T) {
		before := snapshot(t, l)
		again := c.run(t, pb, "--detailed-exitcode")
		if again.exit != 0 {
			t.Errorf("exit = %d; want 0 (no changes)", again.exit)
		}
		if d := diffSnapshots(before, snapshot(t, l)); len(d) > 0 {
			t.Errorf("second run changed hosts:\n%s", strings.Join(d, "\n"))
		}
	})
}

package lab

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"
)

func TestNewPKI(t *testing.T) {
	ip := netip.MustParseAddr("10.213.9.2")
	tests := []struct {
		chain      Chain
		wantChain  int    // certificates the registry sends
		wantCAIsCA bool   // whether CAPEM is a CA certificate
		verifyName string // name that must verify; ip when empty
		rejectIP   bool   // whether verifying by IP must fail
	}{
		{chain: ChainRootLeaf, wantChain: 2, wantCAIsCA: true},
		{chain: ChainIntermediate, wantChain: 2, wantCAIsCA: true},
		{chain: ChainSelfSigned, wantChain: 1, wantCAIsCA: false},
		{chain: ChainNoIPSAN, wantChain: 2, wantCAIsCA: true, verifyName: RegistryDNSName, rejectIP: true},
	}
	for _, tt := range tests {
		t.Run(tt.chain.String(), func(t *testing.T) {
			p, err := newPKI(tt.chain, ip, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if len(p.chain) != tt.wantChain {
				t.Errorf("chain length = %d; want %d", len(p.chain), tt.wantChain)
			}
			if p.ca.IsCA != tt.wantCAIsCA {
				t.Errorf("CA IsCA = %v; want %v", p.ca.IsCA, tt.wantCAIsCA)
			}
			for _, c := range p.chain[1:] {
				if c.Equal(p.ca) && tt.chain == ChainIntermediate {
					t.Errorf("served chain contains the root; want leaf + intermediate only")
				}
			}
			roots := x509.NewCertPool()
			roots.AddCert(p.ca)
			inter := x509.NewCertPool()
			for _, c := range p.chain[1:] {
				inter.AddCert(c)
			}
			name := tt.verifyName
			if name == "" {
				name = ip.String()
			}
			opts := x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter}
			if _, err := p.chain[0].Verify(opts); err != nil {
				t.Errorf("verify leaf for %s: %v; want success", name, err)
			}
			opts.DNSName = ip.String()
			_, err = p.chain[0].Verify(opts)
			if tt.rejectIP && err == nil {
				t.Errorf("verify leaf for %s succeeded; want a missing IP SAN error", ip)
			}
			if p.serverName != tt.verifyName {
				t.Errorf("serverName = %q; want %q", p.serverName, tt.verifyName)
			}
			if !bytes.Contains(p.keyPEM, []byte("BEGIN PRIVATE KEY")) {
				t.Errorf("keyPEM does not hold a PKCS #8 key")
			}
		})
	}
}

func TestNewPKIUnknownChain(t *testing.T) {
	_, err := newPKI(Chain(42), netip.MustParseAddr("10.0.0.2"), time.Now())
	if err == nil || !strings.Contains(err.Error(), "Chain(42)") {
		t.Errorf("newPKI(Chain(42)) error = %v; want one naming Chain(42)", err)
	}
}

func TestFingerprint(t *testing.T) {
	p, err := newPKI(ChainRootLeaf, netip.MustParseAddr("10.0.0.2"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	got := Fingerprint(p.ca)
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(got) {
		t.Errorf("Fingerprint = %q; want 32 uppercase hex pairs joined by colons", got)
	}
	if other := Fingerprint(p.chain[0]); other == got {
		t.Errorf("leaf and root share fingerprint %s; want them to differ", got)
	}
}

func TestParseSubnet(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{name: "valid", in: "10.42.7.0/24"},
		{name: "not-ten", in: "192.168.7.0/24", wantErr: true},
		{name: "wrong-size", in: "10.42.0.0/16", wantErr: true},
		{name: "host-bits-set", in: "10.42.7.5/24", wantErr: true},
		{name: "ipv6", in: "fd00::/64", wantErr: true},
		{name: "garbage", in: "ten", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseSubnet(tt.in)
			if (err != nil) != tt.wantErr {
				t.Errorf("parseSubnet(%q) error = %v; want error %v", tt.in, err, tt.wantErr)
			}
		})
	}
}

func TestNewNetwork(t *testing.T) {
	n := newNetwork(netip.MustParsePrefix("10.255.254.0/24"))
	if got, want := n.hostIP.String(), "10.255.254.1"; got != want {
		t.Errorf("hostIP = %s; want %s", got, want)
	}
	if got, want := n.registryIP.String(), "10.255.254.2"; got != want {
		t.Errorf("registryIP = %s; want %s", got, want)
	}
	// Linux rejects interface names longer than 15 bytes.
	if len(n.veth) > 15 {
		t.Errorf("veth name %q has %d bytes; want at most 15", n.veth, len(n.veth))
	}
}

func TestCandidateSubnets(t *testing.T) {
	got, err := candidateSubnets("")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 254 || got[0].String() != "10.213.1.0/24" || got[253].String() != "10.213.254.0/24" {
		t.Errorf("candidateSubnets(\"\") = %d prefixes from %v to %v; want 254 from 10.213.1.0/24 to 10.213.254.0/24", len(got), got[0], got[len(got)-1])
	}
	got, err = candidateSubnets("10.1.2.0/24")
	if err != nil || len(got) != 1 || got[0].String() != "10.1.2.0/24" {
		t.Errorf("candidateSubnets(10.1.2.0/24) = %v, %v; want only that prefix", got, err)
	}
}

func TestRoutedPrefixes(t *testing.T) {
	out := `default via 192.0.2.1 dev eth0
192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2
10.213.1.0/24 dev rtlab-213-1 proto kernel scope link src 10.213.1.1
local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1
broadcast 192.0.2.255 dev eth0 table local proto kernel scope link src 192.0.2.2
`
	used := routedPrefixes(out)
	tests := []struct {
		subnet string
		want   bool
	}{
		{subnet: "10.213.1.0/24", want: true},
		{subnet: "10.213.2.0/24", want: false},
		{subnet: "192.0.2.0/24", want: true},
		{subnet: "127.0.0.0/24", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.subnet, func(t *testing.T) {
			if got := overlapsAny(netip.MustParsePrefix(tt.subnet), used); got != tt.want {
				t.Errorf("overlapsAny(%s, %v) = %v; want %v", tt.subnet, used, got, tt.want)
			}
		})
	}
}

func TestBuildImage(t *testing.T) {
	img, err := buildImage()
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(img.manifest, &m); err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != 2 || m.MediaType != mediaManifest {
		t.Errorf("manifest version, type = %d, %s; want 2, %s", m.SchemaVersion, m.MediaType, mediaManifest)
	}
	if m.Config.Digest != digestOf(img.config) || m.Config.Size != len(img.config) {
		t.Errorf("manifest config = %+v; want digest %s size %d", m.Config, digestOf(img.config), len(img.config))
	}
	if len(m.Layers) != 1 || m.Layers[0].Digest != digestOf(img.layer) || m.Layers[0].Size != len(img.layer) {
		t.Fatalf("manifest layers = %+v; want one with digest %s", m.Layers, digestOf(img.layer))
	}

	zr, err := gzip.NewReader(bytes.NewReader(img.layer))
	if err != nil {
		t.Fatal(err)
	}
	layerTar, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	var config struct {
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(img.config, &config); err != nil {
		t.Fatal(err)
	}
	if len(config.RootFS.DiffIDs) != 1 || config.RootFS.DiffIDs[0] != digestOf(layerTar) {
		t.Errorf("config diff_ids = %v; want [%s], the uncompressed layer digest", config.RootFS.DiffIDs, digestOf(layerTar))
	}

	tr := tar.NewReader(bytes.NewReader(layerTar))
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	content, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Name != "hello.txt" || string(content) != seedFileContent {
		t.Errorf("layer file = %s %q; want hello.txt %q", hdr.Name, content, seedFileContent)
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("layer has more than one entry; want one")
	}

	again, err := buildImage()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.manifest, img.manifest) {
		t.Errorf("buildImage is not reproducible: manifests differ")
	}
}

func TestRenderInventory(t *testing.T) {
	hosts := []*Host{
		{Name: "node1", Port: 2201, Dockerd: true, RestartCommand: "/lab/restart-dockerd"},
		{Name: "node2", Port: 2202, RestartCommand: "/lab/restart-dockerd log-only"},
	}
	b, err := renderInventory(hosts, "/lab/id_ed25519", map[string][]string{"certsd": {"node1"}, "systrust": {"node1", "node2"}, "empty": nil}, "")
	if err != nil {
		t.Fatal(err)
	}
	var inv struct {
		All struct {
			Children map[string]struct {
				Hosts map[string]map[string]any `yaml:"hosts"`
			} `yaml:"children"`
		} `yaml:"all"`
	}
	if err := yaml.Unmarshal(b, &inv); err != nil {
		t.Fatalf("parse inventory: %v\n%s", err, b)
	}
	groups := inv.All.Children
	if got := groups[GroupAll].Hosts["node1"]["docker_log_file"]; got != DockerdLog {
		t.Errorf("node1 docker_log_file = %v; want %s", got, DockerdLog)
	}
	if got, ok := groups[GroupAll].Hosts["node2"]["docker_log_file"]; ok {
		t.Errorf("node2 docker_log_file = %v; want none on a host without dockerd", got)
	}
	node2 := groups[GroupAll].Hosts["node2"]
	if node2["ansible_port"] != 2202 || node2["docker_restart_command"] != "/lab/restart-dockerd log-only" ||
		node2["ansible_ssh_private_key_file"] != "/lab/id_ed25519" || node2["ansible_user"] != "root" ||
		node2["ansible_host"] != "127.0.0.1" {
		t.Errorf("node2 vars = %v; want port 2202, user root, host 127.0.0.1, the key and the log-only restart", node2)
	}
	tests := []struct {
		group string
		want  []string
	}{
		{group: GroupAll, want: []string{"node1", "node2"}},
		{group: GroupDockerd, want: []string{"node1"}},
		{group: GroupSSHOnly, want: []string{"node2"}},
		{group: "certsd", want: []string{"node1"}},
		{group: "systrust", want: []string{"node1", "node2"}},
		{group: "empty", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.group, func(t *testing.T) {
			g, ok := groups[tt.group]
			if !ok {
				t.Fatalf("inventory lacks group %s\n%s", tt.group, b)
			}
			if len(g.Hosts) != len(tt.want) {
				t.Errorf("group %s has %d hosts; want %v", tt.group, len(g.Hosts), tt.want)
			}
			for _, name := range tt.want {
				if _, ok := g.Hosts[name]; !ok {
					t.Errorf("group %s lacks %s", tt.group, name)
				}
			}
		})
	}
}

func TestRenderInventoryAccess(t *testing.T) {
	hosts := []*Host{
		{Name: "node1", Address: "127.0.0.1", Port: 2201},
		{Name: "node2", Address: "127.0.0.1", Port: 2202, Hidden: true},
	}
	b, err := renderInventory(hosts, "/lab/id_ed25519", nil, "deploy")
	if err != nil {
		t.Fatal(err)
	}
	var inv struct {
		All struct {
			Children map[string]struct {
				Hosts map[string]map[string]any `yaml:"hosts"`
			} `yaml:"children"`
		} `yaml:"all"`
	}
	if err := yaml.Unmarshal(b, &inv); err != nil {
		t.Fatalf("parse inventory: %v\n%s", err, b)
	}
	all := inv.All.Children[GroupAll].Hosts
	for name, vars := range all {
		if vars["ansible_user"] != "deploy" || vars["ansible_become"] != true {
			t.Errorf("%s vars = %v; want ansible_user deploy and ansible_become true", name, vars)
		}
	}
	if _, ok := all["node2"]["ansible_host"]; ok {
		t.Errorf("hidden node2 vars = %v; want no ansible_host", all["node2"])
	}
	if _, ok := all["node2"]["ansible_port"]; ok {
		t.Errorf("hidden node2 vars = %v; want no ansible_port", all["node2"])
	}
	if all["node1"]["ansible_host"] != "127.0.0.1" {
		t.Errorf("node1 vars = %v; want ansible_host 127.0.0.1", all["node1"])
	}

	config := string(renderSSHConfig(&Host{Address: "10.213.1.2", Port: 2300}, hosts, "/lab/id_ed25519"))
	for _, want := range []string{"Host lab-bastion\n    HostName 10.213.1.2\n    Port 2300", "Host node2\n    HostName 127.0.0.1\n    Port 2202\n    ProxyJump lab-bastion"} {
		if !strings.Contains(config, want) {
			t.Errorf("ssh config lacks %q:\n%s", want, config)
		}
	}
	if strings.Contains(config, "Host node1") {
		t.Errorf("ssh config routes node1, which is not hidden:\n%s", config)
	}
}

func TestRenderKnownHosts(t *testing.T) {
	key, err := newSSHKey("test")
	if err != nil {
		t.Fatal(err)
	}
	b := renderKnownHosts([]*Host{{Name: "node1", Address: "127.0.0.1", Port: 2201, hostKey: key}})
	_, hosts, pub, _, _, err := ssh.ParseKnownHosts(b)
	if err != nil {
		t.Fatalf("parse known_hosts %q: %v", b, err)
	}
	if len(hosts) != 1 || hosts[0] != "[127.0.0.1]:2201" {
		t.Errorf("known_hosts hosts = %v; want [[127.0.0.1]:2201]", hosts)
	}
	if !bytes.Equal(pub.Marshal(), key.signer.PublicKey().Marshal()) {
		t.Errorf("known_hosts key differs from the host key")
	}
}

func TestParseRestarts(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int
	}{
		{name: "empty", in: "", want: 0},
		{name: "one", in: "2024-01-01T00:00:00Z restarted dockerd\n", want: 1},
		{name: "two-no-final-newline", in: "a\nb", want: 2},
		{name: "blank-lines", in: "a\n\n \nb\n", want: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseRestarts([]byte(tt.in)); got != tt.want {
				t.Errorf("parseRestarts(%q) = %d; want %d", tt.in, got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{name: "zero-value", opts: Options{}},
		{name: "docker-hosts-exceed", opts: Options{Hosts: 1, DockerHosts: 2}, wantErr: "DockerHosts"},
		{name: "negative", opts: Options{Hosts: -1}, wantErr: "Hosts=-1"},
		{name: "dir-under-run", opts: Options{Dir: "/run/user/0"}, wantErr: "/run"},
		{name: "dir-under-root", opts: Options{Dir: "/root/tmp"}, wantErr: "/root"},
		{name: "dir-under-etc-docker", opts: Options{Dir: "/etc/docker/x"}, wantErr: "/etc/docker"},
		{name: "unknown-group-host", opts: Options{Hosts: 2, Groups: map[string][]string{"certsd": {"node3"}}}, wantErr: `no host "node3"`},
		{name: "bad-host-name", opts: Options{Hosts: 2, Groups: map[string][]string{"certsd": {"node01"}}}, wantErr: `no host "node01"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validate(&tt.opts)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("validate = %v; want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("validate = %v; want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestDefaultGroups(t *testing.T) {
	got := defaultGroups(3)
	if strings.Join(got["certsd"], ",") != "node1,node3" || strings.Join(got["systrust"], ",") != "node2" {
		t.Errorf("defaultGroups(3) = %v; want certsd node1,node3 and systrust node2", got)
	}
}

func TestOwnerRoundTrip(t *testing.T) {
	self, err := currentOwner("/tmp/regtrust-lab-1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseOwner([]byte(self.String()))
	if err != nil {
		t.Fatal(err)
	}
	if got != self {
		t.Errorf("parseOwner(String()) = %+v; want %+v", got, self)
	}
	if !got.alive() {
		t.Errorf("owner %+v of this process is not alive; want alive", got)
	}
	reused := got
	reused.start += "0"
	if reused.alive() {
		t.Errorf("owner with another start time %+v is alive; want a reused pid to count as dead", reused)
	}
}

func TestParseOwnerInvalid(t *testing.T) {
	for _, in := range []string{"", "12\n/tmp/x", "x 1\n/tmp/x", "12 34"} {
		if o, err := parseOwner([]byte(in)); err == nil {
			t.Errorf("parseOwner(%q) = %+v; want an error", in, o)
		}
	}
}

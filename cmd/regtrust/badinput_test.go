package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"github.com/regtrust/regtrust/internal/testpki"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regtrust/regtrust/internal/sshtest"
)

// leafPair makes a certificate that is not a CA and its private key, as
// PEM.
func leafPair(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "client"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// issuedCert makes a server certificate signed by another key, as a
// user who gives the registry's own certificate instead of its CA has.
func issuedCert(t *testing.T) []byte {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Issuing CA"}, IsCA: true, BasicConstraintsValid: true,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageCertSign}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "gitlab.ltc"}, DNSNames: []string{"gitlab.ltc"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// expiredCA makes a CA certificate that expired an hour ago.
func expiredCA(t *testing.T) []byte {
	t.Helper()
	_, data := testpki.NewCAValidFor(t, "Expired Root", -time.Minute)
	return data
}

// TestBadInputContactsNoHost runs the command with each class of bad
// input against a host that counts connections. Every case must exit 1
// with a message that names the bad value, before any connection.
func TestBadInputContactsNoHost(t *testing.T) {
	srv := sshtest.NewServer(t)
	root := t.TempDir()
	dir := t.TempDir()
	inv := filepath.Join(dir, "inventory.yml")
	os.WriteFile(inv, []byte(fmt.Sprintf(`all:
  hosts:
    node1: {ansible_host: 127.0.0.1, ansible_port: %d, ansible_user: %s, ansible_ssh_private_key_file: %s, docker_certs_dir: %s}
`, srv.Port, srv.User, srv.ClientKeyFile, root)), 0o644)

	leafCert, leafKey := leafPair(t)
	otherCert, _ := leafPair(t)
	files := map[string][]byte{
		"empty.pem":         nil,
		"garbage.pem":       []byte("this is not a certificate\n"),
		"key.pem":           leafKey,
		"leaf.pem":          leafCert,
		"issued.pem":        issuedCert(t),
		"client.cert":       otherCert,
		"client.key":        leafKey,
		"bad-inventory.yml": []byte("all:\n  hosts: [node1]\n"),
		"empty.yml":         nil,
		"expired.pem":       expiredCA(t),
	}
	for name, data := range files {
		os.WriteFile(filepath.Join(dir, name), data, 0o600)
	}

	reg := func(extra string) string {
		return "- hosts: all\n  registries:\n    lab: {" + extra + "}\n  tasks:\n    - fetch_ca: {registry: lab}\n    - place_docker_cert: {registry: lab}\n"
	}
	cases := []struct {
		name     string
		playbook string
		args     []string
		want     string
	}{
		{"invalid-yaml", "- hosts: [all\n", nil, "invalid YAML"},
		{"wrong-type", "- hosts: all\n  tasks: {fetch_ca: x}\n", nil, "tasks must be a list"},
		{"unknown-key", "- hosts: all\n  handler: []\n", nil, `unknown play key "handler"`},
		{"unknown-task", "- hosts: all\n  tasks:\n    - restart_docker: {}\n", nil, `unknown task or key "restart_docker"`},
		{"unknown-handler", "- hosts: all\n  tasks:\n    - update_ca:\n      notify: restart\n", nil, `notifies "restart", which is not a handler`},
		{"handler-loop", "- hosts: all\n  tasks: []\n  handlers:\n    - {name: a, update_ca: , notify: b}\n    - {name: b, update_ca: , notify: a}\n", nil, "loop"},
		{"duplicate-handler", "- hosts: all\n  tasks: []\n  handlers:\n    - update_ca:\n    - update_ca:\n", nil, "defined twice"},
		{"empty-playbook", "", nil, "the playbook is empty"},
		{"deep-nesting", strings.Repeat("[", 20000) + strings.Repeat("]", 20000), nil, "site.yml"},
		{"address-scheme", reg(`address: "http://gitlab.ltc:4567"`), nil, `"http://gitlab.ltc:4567": remove the scheme`},
		{"address-path", reg(`address: "gitlab.ltc:4567/v2"`), nil, `"gitlab.ltc:4567/v2": remove the path`},
		{"address-space", reg(`address: "gitlab ltc"`), nil, `"gitlab ltc"`},
		{"address-control", reg(`address: "gitlab.ltc\u0007"`), nil, "control character"},
		{"address-dotdot", reg(`address: ".."`), nil, `".."`},
		{"address-port", reg(`address: "gitlab.ltc:70000"`), nil, `port "70000"`},
		{"pin", reg(`address: gitlab.ltc, ca_sha256: "AB:CD"`), nil, "64 hex digits"},
		{"ca-empty", reg(`address: gitlab.ltc, ca_file: empty.pem`), nil, "empty.pem"},
		{"ca-garbage", reg(`address: gitlab.ltc, ca_file: garbage.pem`), nil, "garbage.pem"},
		{"ca-private-key", reg(`address: gitlab.ltc, ca_file: key.pem`), nil, "private key"},
		{"ca-not-a-ca", reg(`address: gitlab.ltc, ca_file: issued.pem`), nil, "is not a CA certificate"},
		{"ca-expired", reg(`address: gitlab.ltc, ca_file: expired.pem`), nil, "expired on"},
		{"report-folder-missing", "- hosts: all\n  tasks: []\n", []string{"--report", "/nonexistent/folder/report.json"}, "--report /nonexistent/folder/report.json"},
		{"runtime-typo", "- hosts: all\n  vars: {container_runtime: dokker}\n  registries:\n    lab: {address: gitlab.ltc, ca_file: leaf.pem}\n  tasks:\n    - place_docker_cert: {registry: lab}\n", nil, `invalid container_runtime "dokker"`},
		{"limit-matches-nothing", "- hosts: all\n  tasks: []\n", []string{"--limit", "nodee1"}, `--limit "nodee1"`},
		{"client-mismatch", reg(`address: gitlab.ltc, ca_pem: "` + strings.ReplaceAll(string(files["leaf.pem"]), "\n", `\n`) + `", client_cert: client.cert, client_key: client.key`), nil, "client"},
		{"bad-inventory", "- hosts: all\n  tasks: []\n", []string{"-i", filepath.Join(dir, "bad-inventory.yml")}, "bad-inventory.yml"},
		{"empty-inventory", "- hosts: all\n  tasks: []\n", []string{"-i", filepath.Join(dir, "empty.yml")}, "empty.yml"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pb := filepath.Join(dir, "site.yml")
			if err := os.WriteFile(pb, []byte(c.playbook), 0o644); err != nil {
				t.Fatal(err)
			}
			args := []string{"run", pb, "--known-hosts", srv.KnownHostsFile}
			if len(c.args) == 0 || c.args[0] != "-i" {
				args = append(args, "-i", inv)
			}
			args = append(args, c.args...)
			before := srv.Conns()
			code, out, errOut := runCLI(args...)
			if code != 1 {
				t.Errorf("exit %d; want 1\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			if c.want != "" && !strings.Contains(errOut, c.want) {
				t.Errorf("stderr = %q; want it to name %q", errOut, c.want)
			}
			if n := srv.Conns() - before; n != 0 {
				t.Errorf("%d connections opened; want none before bad input is reported", n)
			}
			if entries, _ := os.ReadDir(root); len(entries) != 0 {
				t.Errorf("the host's folder was changed: %v", entries)
			}
		})
	}
}

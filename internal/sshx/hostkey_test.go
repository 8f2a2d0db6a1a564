package sshx

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/regtrust/regtrust/internal/sshtest"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDialUnknownHostKey(t *testing.T) {
	srv := sshtest.NewServer(t)
	cfg := configFor(srv)
	known := filepath.Join(t.TempDir(), "known_hosts") // missing: counts as empty
	cfg.KnownHostsFiles = []string{known}

	_, err := Dial(context.Background(), cfg)
	var keyErr *HostKeyError
	if !errors.As(err, &keyErr) {
		t.Fatalf("Dial error = %v; want a *HostKeyError", err)
	}
	fingerprint := ssh.FingerprintSHA256(srv.HostKey)
	if keyErr.Fingerprint != fingerprint {
		t.Errorf("Fingerprint = %s; want %s", keyErr.Fingerprint, fingerprint)
	}
	if len(keyErr.Known) != 0 {
		t.Errorf("Known = %v; want empty for an unknown host", keyErr.Known)
	}
	if keyErr.File != known {
		t.Errorf("File = %s; want %s", keyErr.File, known)
	}
	for _, want := range []string{
		fmt.Sprintf("host key for %s is not in %s (offered %s)", srv.Addr, known, fingerprint),
		fmt.Sprintf("ssh-keyscan -p %d 127.0.0.1 >> %s", srv.Port, known),
		"--accept-new-host-keys",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error = %q; want it to contain %q", err, want)
		}
	}
	if _, statErr := os.Stat(known); statErr == nil {
		t.Errorf("Dial created %s without AcceptNewHostKeys", known)
	}
}

func TestDialChangedHostKey(t *testing.T) {
	for _, acceptNew := range []bool{false, true} {
		t.Run(fmt.Sprintf("accept new %v", acceptNew), func(t *testing.T) {
			srv := sshtest.NewServer(t, sshtest.WithChangedHostKey())
			cfg := configFor(srv)
			cfg.AcceptNewHostKeys = acceptNew
			before := readFile(t, srv.KnownHostsFile)

			_, err := Dial(context.Background(), cfg)
			var keyErr *HostKeyError
			if !errors.As(err, &keyErr) {
				t.Fatalf("Dial error = %v; want a *HostKeyError", err)
			}
			offered := ssh.FingerprintSHA256(srv.HostKey)
			listed := ssh.FingerprintSHA256(srv.ListedHostKey)
			if keyErr.Fingerprint != offered {
				t.Errorf("Fingerprint = %s; want the offered %s", keyErr.Fingerprint, offered)
			}
			if !slices.Equal(keyErr.Known, []string{listed}) {
				t.Errorf("Known = %v; want [%s]", keyErr.Known, listed)
			}
			for _, want := range []string{"CHANGED", offered, listed, "attack", srv.KnownHostsFile} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error = %q; want it to contain %q", err, want)
				}
			}
			if after := readFile(t, srv.KnownHostsFile); after != before {
				t.Errorf("known_hosts changed to %q; want it left as %q", after, before)
			}
		})
	}
}

func TestDialAcceptNewHostKey(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(t *testing.T, dir string) string // returns the known_hosts path
		wantDir   bool                                  // Dial must create the folder
		wantLines int
	}{
		{
			name:      "missing file in missing folder",
			setup:     func(t *testing.T, dir string) string { return filepath.Join(dir, "ssh", "known_hosts") },
			wantDir:   true,
			wantLines: 1,
		},
		{
			name:      "last line without newline",
			wantLines: 2,
			setup: func(t *testing.T, dir string) string {
				path := filepath.Join(dir, "known_hosts")
				_, other := sshtest.NewKey(t)
				writeFile(t, path, knownhosts.Line([]string{"other.example"}, other.PublicKey()))
				return path
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := sshtest.NewServer(t)
			dir := t.TempDir()
			known := tt.setup(t, dir)
			cfg := configFor(srv)
			cfg.KnownHostsFiles = []string{known}
			cfg.AcceptNewHostKeys = true

			c := dial(t, cfg)
			c.Close()

			content := readFile(t, known)
			wantLine := fmt.Sprintf("[127.0.0.1]:%d %s", srv.Port, strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostKey))))
			lines := strings.Split(strings.TrimSuffix(content, "\n"), "\n")
			if len(lines) != tt.wantLines {
				t.Fatalf("known_hosts has %d lines; want %d:\n%s", len(lines), tt.wantLines, content)
			}
			if lines[len(lines)-1] != wantLine {
				t.Errorf("last known_hosts line = %q; want %q", lines[len(lines)-1], wantLine)
			}
			if !strings.HasSuffix(content, "\n") {
				t.Errorf("known_hosts = %q; want it to end in a newline", content)
			}
			info, err := os.Stat(known)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm() != 0o600 {
				t.Errorf("known_hosts mode = %v; want 0600", info.Mode().Perm())
			}
			if tt.wantDir {
				dirInfo, err := os.Stat(filepath.Dir(known))
				if err != nil {
					t.Fatal(err)
				}
				if dirInfo.Mode().Perm() != 0o700 {
					t.Errorf("known_hosts folder mode = %v; want 0700", dirInfo.Mode().Perm())
				}
			}

			// The appended line alone must now be enough.
			cfg.AcceptNewHostKeys = false
			dial(t, cfg)
		})
	}
}

func TestDialHashedKnownHosts(t *testing.T) {
	srv := sshtest.NewServer(t)
	_, stranger := sshtest.NewKey(t)
	hashed := knownhosts.HashHostname(knownhosts.Normalize(srv.Addr))

	tests := []struct {
		name        string
		key         ssh.PublicKey
		wantChanged bool
	}{
		{name: "matching key", key: srv.HostKey},
		{name: "different key", key: stranger.PublicKey(), wantChanged: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			known := filepath.Join(t.TempDir(), "known_hosts")
			writeFile(t, known, knownhosts.Line([]string{"other.example"}, stranger.PublicKey())+"\n"+
				hashed+" "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(tt.key)))+"\n")
			cfg := configFor(srv)
			cfg.KnownHostsFiles = []string{known}

			c, err := Dial(context.Background(), cfg)
			if c != nil {
				c.Close()
			}
			var keyErr *HostKeyError
			gotChanged := errors.As(err, &keyErr) && len(keyErr.Known) > 0
			if gotChanged != tt.wantChanged {
				t.Fatalf("Dial error = %v; want changed-key error %v", err, tt.wantChanged)
			}
			if !tt.wantChanged && err != nil {
				t.Fatalf("Dial error = %v; want nil", err)
			}
		})
	}
}

func TestDialSeveralKnownHostsFiles(t *testing.T) {
	srv := sshtest.NewServer(t)
	cfg := configFor(srv)
	empty := filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, empty, "# no hosts yet\n")
	missing := filepath.Join(t.TempDir(), "missing")
	cfg.KnownHostsFiles = []string{missing, empty, srv.KnownHostsFile}

	dial(t, cfg)
}

func TestDialAcceptNewConcurrent(t *testing.T) {
	const hosts = 20
	servers := make([]*sshtest.Server, hosts)
	for i := range servers {
		servers[i] = sshtest.NewServer(t)
	}
	known := filepath.Join(t.TempDir(), "known_hosts")

	tests := []struct {
		name      string
		serverFor func(i int) *sshtest.Server
		wantLines int
	}{
		{name: "20 hosts", serverFor: func(i int) *sshtest.Server { return servers[i] }, wantLines: hosts},
		{name: "one host 20 times", serverFor: func(int) *sshtest.Server { return servers[0] }, wantLines: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(known)
			var wg sync.WaitGroup
			errs := make([]error, hosts)
			for i := range hosts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					cfg := configFor(tt.serverFor(i))
					cfg.KnownHostsFiles = []string{known}
					cfg.AcceptNewHostKeys = true
					c, err := Dial(context.Background(), cfg)
					if err == nil {
						err = c.Close()
					}
					errs[i] = err
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("Dial %d error = %v; want nil", i, err)
				}
			}

			content := readFile(t, known)
			lines := strings.Split(strings.TrimSuffix(content, "\n"), "\n")
			if len(lines) != tt.wantLines {
				t.Fatalf("known_hosts has %d lines; want %d:\n%s", len(lines), tt.wantLines, content)
			}
			for _, line := range lines {
				if _, _, _, _, _, err := ssh.ParseKnownHosts([]byte(line)); err != nil {
					t.Errorf("known_hosts line %q does not parse: %v", line, err)
				}
			}
			for i := range tt.wantLines {
				cfg := configFor(tt.serverFor(i))
				cfg.KnownHostsFiles = []string{known}
				dial(t, cfg)
			}
		})
	}
}

// TestDialPicksHostKeyTypeOnFile gives the server three host keys and
// lists only one in known_hosts. x/crypto/ssh's default order prefers
// ECDSA and RSA to Ed25519, so the Dial succeeds only when it requests the
// type on file.
func TestDialPicksHostKeyTypeOnFile(t *testing.T) {
	_, ed25519Signer := sshtest.NewKey(t)
	ecdsaKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecdsaSigner, err := ssh.NewSignerFromKey(ecdsaKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaSigner, err := ssh.NewSignerFromKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := sshtest.NewServer(t, sshtest.WithHostKeys(ecdsaSigner, rsaSigner, ed25519Signer))

	tests := []struct {
		name   string
		listed ssh.Signer
	}{
		{name: "ed25519", listed: ed25519Signer},
		{name: "ecdsa", listed: ecdsaSigner},
		{name: "rsa", listed: rsaSigner},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			known := filepath.Join(t.TempDir(), "known_hosts")
			writeFile(t, known, knownhosts.Line([]string{srv.Addr}, tt.listed.PublicKey())+"\n")
			cfg := configFor(srv)
			cfg.KnownHostsFiles = []string{known}
			dial(t, cfg)
		})
	}
}

// newHostCertSigner returns a signer that presents key's public key in a
// host certificate for principal, signed by ca.
func newHostCertSigner(t *testing.T, ca, key ssh.Signer, principal string) ssh.Signer {
	t.Helper()
	cert := &ssh.Certificate{
		Key:             key.PublicKey(),
		CertType:        ssh.HostCert,
		KeyId:           "test host",
		ValidPrincipals: []string{principal},
		ValidBefore:     ssh.CertTimeInfinity,
	}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatalf("sign host certificate: %v", err)
	}
	signer, err := ssh.NewCertSigner(cert, key)
	if err != nil {
		t.Fatalf("make certificate signer: %v", err)
	}
	return signer
}

func TestDialHostCertificate(t *testing.T) {
	_, ca := sshtest.NewKey(t)
	_, otherCA := sshtest.NewKey(t)
	_, hostKey := sshtest.NewKey(t)
	srv := sshtest.NewServer(t, sshtest.WithHostKeys(newHostCertSigner(t, ca, hostKey, "127.0.0.1"), hostKey))
	caLine := func(key ssh.Signer) string {
		return fmt.Sprintf("@cert-authority [127.0.0.1]:%d %s", srv.Port, ssh.MarshalAuthorizedKey(key.PublicKey()))
	}
	plainLine := knownhosts.Line([]string{srv.Addr}, hostKey.PublicKey()) + "\n"

	tests := []struct {
		name    string
		known   string
		wantErr bool
	}{
		{name: "authority only", known: caLine(ca)},
		{name: "authority and plain key", known: caLine(ca) + plainLine},
		{name: "plain key only", known: plainLine},
		{name: "other authority", known: caLine(otherCA), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			known := filepath.Join(t.TempDir(), "known_hosts")
			writeFile(t, known, tt.known)
			cfg := configFor(srv)
			cfg.KnownHostsFiles = []string{known}
			c, err := Dial(context.Background(), cfg)
			if c != nil {
				c.Close()
			}
			if (err != nil) != tt.wantErr {
				t.Errorf("Dial error = %v; want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestHostKeyAlgorithms(t *testing.T) {
	_, ed := sshtest.NewKey(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, err := ssh.NewPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	known := func(keys ...ssh.PublicKey) []knownhosts.KnownKey {
		var out []knownhosts.KnownKey
		for _, k := range keys {
			out = append(out, knownhosts.KnownKey{Key: k})
		}
		return out
	}

	tests := []struct {
		name        string
		plain       []knownhosts.KnownKey
		authorities []knownhosts.KnownKey
		want        []string
	}{
		{name: "unknown host", want: nil},
		{name: "authority only", authorities: known(ed.PublicKey()), want: nil},
		{name: "ed25519", plain: known(ed.PublicKey()), want: []string{ssh.KeyAlgoED25519}},
		{name: "rsa uses sha2 only", plain: known(rsaPub), want: []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}},
		{name: "duplicates dropped", plain: known(ed.PublicKey(), ed.PublicKey()), want: []string{ssh.KeyAlgoED25519}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := hostKeyAlgorithms(tt.plain, tt.authorities)
			if !slices.Equal(got, tt.want) {
				t.Errorf("hostKeyAlgorithms = %v; want %v", got, tt.want)
			}
		})
	}

	got := hostKeyAlgorithms(known(ed.PublicKey()), known(ed.PublicKey()))
	if len(got) < 2 || !strings.Contains(got[0], "-cert-") || got[len(got)-1] != ssh.KeyAlgoED25519 {
		t.Errorf("hostKeyAlgorithms with an authority = %v; want certificate algorithms first, then %s", got, ssh.KeyAlgoED25519)
	}
}

func TestAppendLineKeepsExistingContent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	writeFile(t, path, "a ssh-ed25519 AAAA")
	if err := appendLine(path, "b ssh-ed25519 BBBB"); err != nil {
		t.Fatalf("appendLine error = %v; want nil", err)
	}
	got := readFile(t, path)
	want := "a ssh-ed25519 AAAA\nb ssh-ed25519 BBBB\n"
	if !bytes.Equal([]byte(got), []byte(want)) {
		t.Errorf("file = %q; want %q", got, want)
	}
}

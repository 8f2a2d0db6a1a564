package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"strings"
	"testing"
)

func TestParseCAFile(t *testing.T) {
	p := newTestPKI(t)
	rootPEM, interPEM := p.root.certPEM(), p.intermediate.certPEM()
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{0x30, 0x00}})
	trustSettings, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 1}})
	if err != nil {
		t.Fatalf("marshal trust settings: %v", err)
	}
	trusted := pem.EncodeToMemory(&pem.Block{Type: "TRUSTED CERTIFICATE", Bytes: append(append([]byte(nil), p.root.cert.Raw...), trustSettings...)})

	tests := []struct {
		name string
		data []byte
		want []*testCert
	}{
		{"pem", rootPEM, []*testCert{p.root}},
		{"crlf", bytes.ReplaceAll(rootPEM, []byte("\n"), []byte("\r\n")), []*testCert{p.root}},
		{"bom", append([]byte("\xEF\xBB\xBF"), rootPEM...), []*testCert{p.root}},
		{"text-around", concat([]byte("subject=CN = Test Root CA\nissuer=CN = Test Root CA\n"), rootPEM, []byte("\nexported by hand\n")), []*testCert{p.root}},
		{"several", concat(rootPEM, interPEM), []*testCert{p.root, p.intermediate}},
		{"repeated-once", concat(rootPEM, interPEM, rootPEM), []*testCert{p.root, p.intermediate}},
		{"other-blocks-skipped", concat(csr, rootPEM), []*testCert{p.root}},
		{"trusted-certificate", trusted, []*testCert{p.root}},
		{"der", p.root.cert.Raw, []*testCert{p.root}},
		{"der-several", concat(p.root.cert.Raw, p.intermediate.cert.Raw), []*testCert{p.root, p.intermediate}},
		{"no-final-newline", bytes.TrimSuffix(rootPEM, []byte("\n")), []*testCert{p.root}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cas, err := ParseCAFile("ca.crt", tt.data)
			if err != nil {
				t.Fatalf("ParseCAFile: got error %v; want nil", err)
			}
			if len(cas) != len(tt.want) {
				t.Fatalf("CAs: got %d; want %d", len(cas), len(tt.want))
			}
			for i, want := range tt.want {
				if got, wantFP := cas[i].SHA256, Fingerprint(want.cert); got != wantFP {
					t.Errorf("CA %d: got %s; want %s", i, got, wantFP)
				}
				if got, wantPEM := string(cas[i].PEM), string(want.certPEM()); got != wantPEM {
					t.Errorf("CA %d PEM: got %q; want %q", i, got, wantPEM)
				}
			}
		})
	}
}

func TestParseCAFileErrors(t *testing.T) {
	p := newTestPKI(t)
	keyPEM := p.leaf.keyPEM(t)
	keyDER, err := x509.MarshalPKCS8PrivateKey(p.leaf.key)
	if err != nil {
		t.Fatalf("marshal key: %v", err)
	}
	rootPEM := p.root.certPEM()
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: []byte{0x30, 0x00}})
	badCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")})

	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"nil", nil, `CA file "ca.crt" is empty; give a CA certificate in PEM or DER form`},
		{"whitespace", []byte(" \r\n\t\n"), `CA file "ca.crt" is empty; give a CA certificate in PEM or DER form`},
		{"bom-only", []byte("\xEF\xBB\xBF\n"), `CA file "ca.crt" is empty; give a CA certificate in PEM or DER form`},
		{"garbage", []byte("hello, world\n"), `CA file "ca.crt" is neither PEM nor a DER certificate; give a CA certificate in one of those forms: x509: malformed certificate`},
		{"private-key-pem", keyPEM, `CA file "ca.crt" is a private key, not a certificate; give the CA certificate, never a key`},
		{"private-key-der", keyDER, `CA file "ca.crt" is a private key, not a certificate; give the CA certificate, never a key`},
		{"rsa-key-header", []byte("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"), `CA file "ca.crt" is a private key, not a certificate; give the CA certificate, never a key`},
		{"certificate-and-key", concat(rootPEM, keyPEM), `CA file "ca.crt" contains a private key besides its certificates; remove the key so that it is not copied to hosts`},
		{"truncated", rootPEM[:len(rootPEM)/2], `CA file "ca.crt" has a -----BEGIN line but no complete PEM block; check that the file is not truncated`},
		{"only-csr", csr, `CA file "ca.crt" contains no certificate, only PEM blocks of type CERTIFICATE REQUEST; give the CA certificate`},
		{"bad-certificate-block", concat(rootPEM, badCert), `parse PEM block 2 of CA file "ca.crt": x509: malformed certificate`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cas, err := ParseCAFile("ca.crt", tt.data)
			if err == nil {
				t.Fatalf("ParseCAFile: got %d CAs; want error", len(cas))
			}
			if err.Error() != tt.want {
				t.Errorf("error:\ngot  %v\nwant %s", err, tt.want)
			}
		})
	}
}

func TestParseCAPEM(t *testing.T) {
	p := newTestPKI(t)

	cas, err := ParseCAPEM(p.root.certPEM())
	if err != nil {
		t.Fatalf("ParseCAPEM(PEM): got error %v; want nil", err)
	}
	if len(cas) != 1 || cas[0].SHA256 != Fingerprint(p.root.cert) {
		t.Errorf("ParseCAPEM(PEM): got %d CAs; want the root", len(cas))
	}

	errTests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", []byte("\n"), `inline ca_pem is empty; give a CA certificate in PEM or DER form`},
		{"der", p.root.cert.Raw, `inline ca_pem contains no PEM block; give the certificate with its -----BEGIN CERTIFICATE----- and -----END CERTIFICATE----- lines`},
		{"key", p.root.keyPEM(t), `inline ca_pem is a private key, not a certificate; give the CA certificate, never a key`},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCAPEM(tt.data)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error: got %v; want %s", err, tt.want)
			}
		})
	}
}

func TestIsPrivateKeyPEM(t *testing.T) {
	p := newTestPKI(t)
	tests := []struct {
		name string
		data string
		want bool
	}{
		{"pkcs8", string(p.leaf.keyPEM(t)), true},
		{"certificate", string(p.leaf.certPEM()), false},
		{"certificate-then-key", string(p.leaf.certPEM()) + string(p.leaf.keyPEM(t)), true},
		{"ec-truncated", "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE", true},
		{"openssh", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----\n", true},
		{"encrypted", "-----BEGIN ENCRYPTED PRIVATE KEY-----\n", true},
		{"public-key", "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n", false},
		{"words-after-begin-line", "-----BEGIN CERTIFICATE-----\nthis is no PRIVATE KEY-----\n", false},
		{"no-pem", "PRIVATE KEY", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsPrivateKeyPEM([]byte(tt.data)); got != tt.want {
				t.Errorf("IsPrivateKeyPEM: got %v; want %v", got, tt.want)
			}
		})
	}
}

func concat(parts ...[]byte) []byte {
	return bytes.Join(parts, nil)
}

func FuzzParseCAFile(f *testing.F) {
	p := newTestPKI(f)
	rootPEM := p.root.certPEM()
	f.Add(rootPEM)
	f.Add(bytes.ReplaceAll(rootPEM, []byte("\n"), []byte("\r\n")))
	f.Add(concat([]byte("\xEF\xBB\xBFnotes\n"), rootPEM, p.intermediate.certPEM()))
	f.Add(p.root.cert.Raw)
	f.Add(p.leaf.keyPEM(f))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nMII\n"))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		cas, err := ParseCAFile("fuzz.crt", data)
		if err != nil {
			if !strings.Contains(err.Error(), `"fuzz.crt"`) {
				t.Errorf("error does not name the file: %v", err)
			}
			return
		}
		if len(cas) == 0 {
			t.Fatalf("got no CAs and no error")
		}
		if IsPrivateKeyPEM(data) && bytes.Contains(data, []byte("-----END")) {
			// A complete key block must never pass; a begin line alone
			// without a block pem.Decode accepts may.
			for rest := data; ; {
				var block *pem.Block
				if block, rest = pem.Decode(rest); block == nil {
					break
				}
				if isPrivateKeyType(block.Type) {
					t.Fatalf("accepted a file with a %s block", block.Type)
				}
			}
		}
		seen := map[string]bool{}
		for i, ca := range cas {
			if seen[ca.SHA256] {
				t.Errorf("CA %d repeated: %s", i, ca.SHA256)
			}
			seen[ca.SHA256] = true
			if bytes.Contains(ca.PEM, []byte("\r")) || !bytes.HasSuffix(ca.PEM, []byte("-----\n")) {
				t.Errorf("CA %d PEM not normalised: %q", i, ca.PEM)
			}
			again, err := ParseCAPEM(ca.PEM)
			if err != nil || len(again) != 1 || again[0].SHA256 != ca.SHA256 {
				t.Errorf("CA %d PEM does not parse back to itself: %v", i, err)
			}
		}
	})
}

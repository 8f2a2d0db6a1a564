package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
)

func TestParseClientPair(t *testing.T) {
	p := newTestPKI(t)
	clientAuth := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	client := issue(t, certSpec{commonName: "puller", extUsage: clientAuth}, p.intermediate)
	noUsage := issue(t, certSpec{commonName: "puller", extUsage: []x509.ExtKeyUsage{}}, p.intermediate)
	anyUsage := issue(t, certSpec{commonName: "puller", extUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}, p.intermediate)
	serverOnly := issue(t, certSpec{commonName: "puller", extUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, p.intermediate)
	clientKey := client.keyPEM(t)
	keyBlock, _ := pem.Decode(clientKey)
	encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: keyBlock.Bytes})
	legacyEncrypted := pem.EncodeToMemory(&pem.Block{
		Type:    "EC PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00112233445566778899AABBCCDDEEFF"},
		Bytes:   keyBlock.Bytes,
	})

	tests := []struct {
		name    string
		cert    []byte
		key     []byte
		wantErr string
	}{
		{"client-auth", client.certPEM(), clientKey, ""},
		{"no-extended-usage", noUsage.certPEM(), noUsage.keyPEM(t), ""},
		{"any-usage", anyUsage.certPEM(), anyUsage.keyPEM(t), ""},
		{"with-intermediate", concat(client.certPEM(), p.intermediate.certPEM()), clientKey, ""},
		{"key-of-other-cert", client.certPEM(), noUsage.keyPEM(t), "load client certificate and key: tls: private key does not match public key"},
		{"ca-as-client", p.intermediate.certPEM(), p.intermediate.keyPEM(t), `client certificate "CN=Test Intermediate CA" is a CA certificate; give a leaf certificate issued to the client`},
		{"server-auth-only", serverOnly.certPEM(), serverOnly.keyPEM(t), `client certificate "CN=puller" does not allow client authentication, so registries reject it; reissue it with extended key usage clientAuth`},
		{"encrypted-pkcs8", client.certPEM(), encrypted, "client key is encrypted, and dockerd cannot ask for a passphrase; give an unencrypted key, for example from: openssl pkey -in KEY -out client.key"},
		{"encrypted-legacy", client.certPEM(), legacyEncrypted, "client key is encrypted, and dockerd cannot ask for a passphrase; give an unencrypted key, for example from: openssl pkey -in KEY -out client.key"},
		{"key-is-certificate", client.certPEM(), client.certPEM(), "client key contains no PEM private key; give the key in PEM form (-----BEGIN PRIVATE KEY-----)"},
		{"key-empty", client.certPEM(), nil, "client key contains no PEM private key; give the key in PEM form (-----BEGIN PRIVATE KEY-----)"},
		{"cert-with-key", concat(client.certPEM(), clientKey), clientKey, "client certificate PEM contains a private key; give the certificate and the key separately"},
		{"cert-empty", nil, clientKey, "load client certificate and key: tls: failed to find any PEM data in certificate input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ParseClientPair(tt.cert, tt.key)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseClientPair: got error %v; want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseClientPair: got nil; want error %s", tt.wantErr)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error:\ngot  %v\nwant %s", err, tt.wantErr)
			}
			for _, line := range bytes.Split(tt.key, []byte("\n")) {
				if len(line) > 8 && !bytes.HasPrefix(line, []byte("-----")) && strings.Contains(err.Error(), string(line)) {
					t.Errorf("error contains key material %q", line)
				}
			}
		})
	}
}

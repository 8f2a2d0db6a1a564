package sshtest

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
)

// NewKey returns a fresh ed25519 private key and its signer.
func NewKey(t testing.TB) (ed25519.PrivateKey, ssh.Signer) {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("generate ed25519 key: %v", err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatalf("make signer from ed25519 key: %v", err)
	}
	return key, signer
}

// WriteKeyFile writes key in OpenSSH format to a new 0600 file in a
// temporary folder and returns its path. A non-empty passphrase encrypts
// the file.
func WriteKeyFile(t testing.TB, key crypto.PrivateKey, passphrase string) string {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(key, "sshtest")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(key, "sshtest", []byte(passphrase))
	}
	if err != nil {
		t.Fatalf("encode private key: %v", err)
	}
	path := filepath.Join(t.TempDir(), "id_key")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatalf("write private key file: %v", err)
	}
	return path
}

package lab

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"

	"golang.org/x/crypto/ssh"
)

// sshKey is an ed25519 key pair in the forms OpenSSH reads.
type sshKey struct {
	signer     ssh.Signer
	privatePEM []byte // OpenSSH private key format
}

func newSSHKey(comment string) (*sshKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ed25519 key %q: %w", comment, err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, fmt.Errorf("encode ed25519 key %q: %w", comment, err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return nil, fmt.Errorf("create signer for %q: %w", comment, err)
	}
	return &sshKey{signer: signer, privatePEM: pem.EncodeToMemory(block)}, nil
}

// authorizedKey returns the public key as one authorized_keys line.
func (k *sshKey) authorizedKey() []byte {
	return ssh.MarshalAuthorizedKey(k.signer.PublicKey())
}

// writePrivate writes the private key with mode 0600, which OpenSSH
// requires of both identity files and host keys.
func (k *sshKey) writePrivate(path string) error {
	if err := os.WriteFile(path, k.privatePEM, 0o600); err != nil {
		return fmt.Errorf("write private key: %w", err)
	}
	return nil
}

package sshx

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// keyring is the list of signers that Dial offers for public-key
// authentication, in order: identity files, then agent keys.
type keyring struct {
	signers []ssh.Signer
	agent   net.Conn // nil without an agent; must stay open until the login ends
}

func (k *keyring) close() {
	if k.agent != nil {
		k.agent.Close()
	}
}

// loadKeyring reads the identity files of cfg and, with cfg.UseAgent,
// the keys of the agent at $SSH_AUTH_SOCK. An agent that cannot be
// reached is an error only when no identity file supplies a key.
func loadKeyring(cfg Config) (*keyring, error) {
	k := &keyring{}
	var agentSigners []ssh.Signer
	var agentErr error
	if cfg.UseAgent {
		agentSigners, agentErr = k.connectAgent()
	}

	for _, file := range cfg.IdentityFiles {
		signers, err := loadIdentityFile(file, agentSigners)
		if err != nil {
			k.close()
			return nil, err
		}
		k.add(signers...)
	}
	k.add(agentSigners...)

	if len(k.signers) == 0 {
		k.close()
		switch {
		case agentErr != nil:
			return nil, fmt.Errorf("load ssh keys for %s: no identity file given, and %w", cfg.Host, agentErr)
		case cfg.UseAgent:
			return nil, fmt.Errorf("load ssh keys for %s: no identity file given, and the agent holds no key; add one with ssh-add", cfg.Host)
		default:
			return nil, fmt.Errorf("load ssh keys for %s: no identity file given and the agent is not in use; set an identity file or enable the agent", cfg.Host)
		}
	}
	return k, nil
}

// add appends the signers whose public keys are not offered yet, so that
// a key both on disk and in the agent costs one login attempt.
func (k *keyring) add(signers ...ssh.Signer) {
	for _, s := range signers {
		if !containsKey(k.signers, s.PublicKey()) {
			k.signers = append(k.signers, s)
		}
	}
}

func containsKey(signers []ssh.Signer, key ssh.PublicKey) bool {
	blob := key.Marshal()
	for _, s := range signers {
		if bytes.Equal(s.PublicKey().Marshal(), blob) {
			return true
		}
	}
	return false
}

func (k *keyring) connectAgent() ([]ssh.Signer, error) {
	socket := os.Getenv("SSH_AUTH_SOCK")
	if socket == "" {
		return nil, errors.New("SSH_AUTH_SOCK is not set; start ssh-agent or set an identity file")
	}
	conn, err := net.Dial("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("connect to ssh-agent at %s: %w", socket, err)
	}
	signers, err := agent.NewClient(conn).Signers()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("list keys of ssh-agent at %s: %w", socket, err)
	}
	k.agent = conn
	return signers, nil
}

// loadIdentityFile returns the signer of a private key file and, when
// FILE-cert.pub exists next to it, a certificate signer placed first.
// An encrypted file is accepted only when the agent holds its key.
func loadIdentityFile(file string, agentSigners []ssh.Signer) ([]ssh.Signer, error) {
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read identity file: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pemBytes)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		if missing.PublicKey != nil && containsKey(agentSigners, missing.PublicKey) {
			return nil, nil // the agent offers this key
		}
		return nil, fmt.Errorf("load identity file %s: the key is encrypted with a passphrase; load it into ssh-agent with ssh-add %s and enable the agent", file, file)
	}
	if err != nil {
		return nil, fmt.Errorf("parse identity file %s: %w; want an unencrypted private key in OpenSSH or PEM format", file, err)
	}

	certFile := file + "-cert.pub"
	certBytes, err := os.ReadFile(certFile)
	if errors.Is(err, fs.ErrNotExist) {
		return []ssh.Signer{signer}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read certificate file: %w", err)
	}
	certKey, _, _, _, err := ssh.ParseAuthorizedKey(certBytes)
	if err != nil {
		return nil, fmt.Errorf("parse certificate file %s: %w", certFile, err)
	}
	cert, ok := certKey.(*ssh.Certificate)
	if !ok {
		return nil, fmt.Errorf("parse certificate file %s: it holds a plain %s key, not a certificate", certFile, certKey.Type())
	}
	certSigner, err := ssh.NewCertSigner(cert, signer)
	if err != nil {
		return nil, fmt.Errorf("use certificate file %s with %s: %w", certFile, file, err)
	}
	return []ssh.Signer{certSigner, signer}, nil
}

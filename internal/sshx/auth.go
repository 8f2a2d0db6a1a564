package sshx

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/regtrust/regtrust/internal/secret"
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

// loadKeyring reads the identity files of cfg through cfg.Keys and,
// with cfg.UseAgent, the keys of the agent at $SSH_AUTH_SOCK. An agent
// that cannot be reached is an error only when no identity file supplies
// a key and no password is set.
func loadKeyring(cfg Config) (*keyring, error) {
	k := &keyring{}
	var agentSigners []ssh.Signer
	var agentErr error
	if cfg.UseAgent {
		agentSigners, agentErr = k.connectAgent()
	}

	for _, file := range cfg.IdentityFiles {
		signers, err := cfg.Keys.signers(file, agentSigners)
		if err != nil {
			k.close()
			return nil, err
		}
		k.add(signers...)
	}
	k.add(agentSigners...)

	if len(k.signers) == 0 && !cfg.Password.IsSet() {
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

// authMethods returns the methods to offer, in order: public keys, then
// the password, both as "password" and as "keyboard-interactive",
// because many servers ask for passwords only through PAM's
// keyboard-interactive prompts.
func (k *keyring) authMethods(password secret.Value) []ssh.AuthMethod {
	var methods []ssh.AuthMethod
	if len(k.signers) > 0 {
		methods = append(methods, ssh.PublicKeys(k.signers...))
	}
	if password.IsSet() {
		methods = append(methods,
			ssh.Password(password.Reveal()),
			ssh.RetryableAuthMethod(ssh.KeyboardInteractive(answerPasswordPrompts(password)), maxPasswordPrompts))
	}
	return methods
}

// maxPasswordPrompts bounds the keyboard-interactive rounds that the
// password answers, so a server that keeps asking cannot hold a Dial
// until its timeout.
const maxPasswordPrompts = 2

// answerPasswordPrompts answers every hidden keyboard-interactive prompt
// with the password and rejects a round with a visible prompt, such as a
// one-time code, which regtrust cannot answer.
func answerPasswordPrompts(password secret.Value) ssh.KeyboardInteractiveChallenge {
	return func(user, instruction string, questions []string, echos []bool) ([]string, error) {
		answers := make([]string, len(questions))
		for i, q := range questions {
			if echos[i] {
				return nil, fmt.Errorf("answer keyboard-interactive prompt %q: only password prompts can be answered", q)
			}
			answers[i] = password.Reveal()
		}
		return answers, nil
	}
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

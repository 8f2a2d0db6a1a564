package sshx

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/ssh"

	"github.com/regtrust/regtrust/internal/secret"
)

// MaxPassphraseAttempts is how many passphrases Keys tries for one
// encrypted key file, as OpenSSH's ssh asks up to three times.
const MaxPassphraseAttempts = 3

// PassphraseFunc returns the passphrase for the encrypted private key in
// file. Attempt counts from 1; a call with attempt 2 or more means the
// previous passphrase was wrong. An error stops the attempts and ends up
// in Dial's error, so it must not contain the passphrase.
type PassphraseFunc func(file string, attempt int) (secret.Value, error)

// Keys reads identity files and keeps what it read, so that a run over
// many hosts parses each file once and decrypts each encrypted key once,
// asking for its passphrase at most once. It is safe for concurrent use:
// Dials that need the same encrypted key wait for the first one to get
// it decrypted.
type Keys struct {
	passphrase PassphraseFunc

	mu    sync.Mutex
	files map[string]*keyFile
}

// NewKeys returns a Keys that asks passphrase for the passphrases of
// encrypted key files. A nil passphrase means encrypted keys can be used
// only when the agent holds them.
func NewKeys(passphrase PassphraseFunc) *Keys {
	return &Keys{passphrase: passphrase, files: make(map[string]*keyFile)}
}

// keyFile is one identity file as read from disk.
type keyFile struct {
	// Set by readOnce.
	readOnce sync.Once
	plain    []ssh.Signer  // the signers of an unencrypted key
	public   ssh.PublicKey // the public key of an encrypted key
	pemBytes []byte        // the encrypted key, kept until decryptOnce ends
	cert     *ssh.Certificate
	err      error

	// Set by decryptOnce.
	decryptOnce sync.Once
	decrypted   []ssh.Signer
	decryptErr  error
}

func (k *Keys) entry(file string) *keyFile {
	path, err := filepath.Abs(file)
	if err != nil {
		path = filepath.Clean(file)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	f := k.files[path]
	if f == nil {
		f = &keyFile{}
		k.files[path] = f
	}
	return f
}

// signers returns the signers of a private key file and, when
// FILE-cert.pub exists next to it, a certificate signer placed first.
// An encrypted file whose key the agent holds gives no signers, because
// the agent offers that key; any other encrypted file is decrypted with
// the passphrase source.
func (k *Keys) signers(file string, agentSigners []ssh.Signer) ([]ssh.Signer, error) {
	f := k.entry(file)
	f.readOnce.Do(func() { f.read(file) })
	if f.err != nil {
		return nil, f.err
	}
	if f.plain != nil {
		return f.plain, nil
	}
	if f.public != nil && containsKey(agentSigners, f.public) {
		return nil, nil
	}
	f.decryptOnce.Do(func() { f.decryptErr = f.decrypt(file, k.passphrase) })
	if f.decryptErr != nil {
		return nil, f.decryptErr
	}
	return f.decrypted, nil
}

// read parses the key file and its certificate. An encrypted key stays
// encrypted until decrypt.
func (f *keyFile) read(file string) {
	pemBytes, err := os.ReadFile(file)
	if err != nil {
		f.err = fmt.Errorf("read identity file: %w", err)
		return
	}
	if f.cert, f.err = readCertificate(file); f.err != nil {
		return
	}
	signer, err := ssh.ParsePrivateKey(pemBytes)
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		f.public = missing.PublicKey
		f.pemBytes = pemBytes
		return
	}
	if err != nil {
		f.err = fmt.Errorf("parse identity file %s: %w; want a private key in OpenSSH or PEM format", file, err)
		return
	}
	f.plain, f.err = withCertificate(file, f.cert, signer)
}

// decrypt asks for the passphrase up to MaxPassphraseAttempts times.
func (f *keyFile) decrypt(file string, passphrase PassphraseFunc) error {
	if passphrase == nil {
		return fmt.Errorf("load identity file %s: the key is encrypted with a passphrase; load it into ssh-agent with ssh-add %s and enable the agent, or give its passphrase",
			file, file)
	}
	defer func() { f.pemBytes = nil }()
	for attempt := 1; attempt <= MaxPassphraseAttempts; attempt++ {
		pass, err := passphrase(file, attempt)
		if err != nil {
			return fmt.Errorf("get passphrase for identity file %s: %w", file, err)
		}
		signer, err := ssh.ParsePrivateKeyWithPassphrase(f.pemBytes, []byte(pass.Reveal()))
		if errors.Is(err, x509.IncorrectPasswordError) {
			continue
		}
		if err != nil {
			return fmt.Errorf("decrypt identity file %s: %w", file, err)
		}
		f.decrypted, err = withCertificate(file, f.cert, signer)
		return err
	}
	return fmt.Errorf("decrypt identity file %s: wrong passphrase after %d attempts; check the passphrase, or load the key into ssh-agent with ssh-add %s",
		file, MaxPassphraseAttempts, file)
}

// readCertificate reads FILE-cert.pub, or returns nil when it does not
// exist.
func readCertificate(file string) (*ssh.Certificate, error) {
	certFile := file + "-cert.pub"
	certBytes, err := os.ReadFile(certFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
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
	return cert, nil
}

func withCertificate(file string, cert *ssh.Certificate, signer ssh.Signer) ([]ssh.Signer, error) {
	if cert == nil {
		return []ssh.Signer{signer}, nil
	}
	certSigner, err := ssh.NewCertSigner(cert, signer)
	if err != nil {
		return nil, fmt.Errorf("use certificate file %s-cert.pub with %s: %w", file, file, err)
	}
	return []ssh.Signer{certSigner, signer}, nil
}

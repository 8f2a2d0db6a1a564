package certs

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ParseClientPair checks a client certificate and its key before they are
// placed as client.cert and client.key: the key must match the certificate,
// which must be a leaf allowed for client authentication. Errors never
// contain key material; they quote only PEM types and certificate names.
func ParseClientPair(certPEM, keyPEM []byte) error {
	if IsPrivateKeyPEM(certPEM) {
		return errors.New("client certificate PEM contains a private key; give the certificate and the key separately")
	}

	key := firstKeyBlock(keyPEM)
	if key == nil {
		return errors.New("client key contains no PEM private key; give the key in PEM form (-----BEGIN PRIVATE KEY-----)")
	}
	// PKCS #8 marks an encrypted key by its type, the legacy OpenSSL form
	// by a Proc-Type header.
	if key.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(key.Headers["Proc-Type"], "ENCRYPTED") {
		return errors.New("client key is encrypted, and dockerd cannot ask for a passphrase; give an unencrypted key, for example from: openssl pkey -in KEY -out client.key")
	}
	// The errors of tls.X509KeyPair are fixed texts that name PEM types and
	// key algorithms, never key bytes, so wrapping them is safe.
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("load client certificate and key: %w", err)
	}

	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return fmt.Errorf("parse client certificate: %w", err)
		}
	}

	if leaf.IsCA {
		return fmt.Errorf("client certificate %q is a CA certificate; give a leaf certificate issued to the client", leaf.Subject.String())
	}
	if len(leaf.ExtKeyUsage) > 0 &&
		!slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) &&
		!slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
		return fmt.Errorf("client certificate %q does not allow client authentication, so registries reject it; reissue it with extended key usage clientAuth", leaf.Subject.String())
	}
	return nil
}

// firstKeyBlock returns the first PEM block of a private key type, or nil.
func firstKeyBlock(data []byte) *pem.Block {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil || isPrivateKeyType(block.Type) {
			return block
		}
	}
}

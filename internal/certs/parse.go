package certs

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"strings"
)

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// ParseCAFile parses the CA certificates in a file, PEM or DER. PEM input
// may have CRLF line endings, a UTF-8 byte order mark, text around the
// blocks and several certificates. Repeated certificates are returned once.
// Errors name the file. A file that is or contains a private key is
// rejected so that a key is never copied to hosts as a trusted CA.
func ParseCAFile(name string, data []byte) ([]CA, error) {
	return parseCAs(fmt.Sprintf("CA file %q", name), data, true)
}

// ParseCAPEM parses CA certificates given inline as PEM text, with the
// same rules as [ParseCAFile] except that DER is not accepted.
func ParseCAPEM(data []byte) ([]CA, error) {
	return parseCAs("inline ca_pem", data, false)
}

func parseCAs(label string, data []byte, allowDER bool) ([]CA, error) {
	data = bytes.TrimPrefix(data, utf8BOM)
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s is empty; give a CA certificate in PEM or DER form", label)
	}
	if bytes.Contains(data, []byte("-----BEGIN")) {
		return parsePEMCAs(label, data)
	}
	if !allowDER {
		return nil, fmt.Errorf("%s contains no PEM block; give the certificate with its -----BEGIN CERTIFICATE----- and -----END CERTIFICATE----- lines", label)
	}
	return parseDERCAs(label, data)
}

func parsePEMCAs(label string, data []byte) ([]CA, error) {
	var (
		cas      []CA
		seen     = map[string]bool{}
		hasKey   bool
		others   []string
		blockNum int
	)
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		blockNum++
		switch {
		case block.Type == "CERTIFICATE" || block.Type == "TRUSTED CERTIFICATE":
			c, err := parsePEMCertificate(block)
			if err != nil {
				return nil, fmt.Errorf("parse PEM block %d of %s: %w", blockNum, label, err)
			}
			ca := newCA(c)
			if !seen[ca.SHA256] {
				seen[ca.SHA256] = true
				cas = append(cas, ca)
			}
		case isPrivateKeyType(block.Type):
			hasKey = true
		default:
			others = append(others, block.Type)
		}
	}
	switch {
	case hasKey && len(cas) == 0:
		return nil, fmt.Errorf("%s is a private key, not a certificate; give the CA certificate, never a key", label)
	case hasKey:
		return nil, fmt.Errorf("%s contains a private key besides its certificates; remove the key so that it is not copied to hosts", label)
	case blockNum == 0:
		return nil, fmt.Errorf("%s has a -----BEGIN line but no complete PEM block; check that the file is not truncated", label)
	case len(cas) == 0:
		return nil, fmt.Errorf("%s contains no certificate, only PEM blocks of type %s; give the CA certificate", label, strings.Join(others, ", "))
	}
	return cas, nil
}

// parsePEMCertificate parses a CERTIFICATE block, or an OpenSSL TRUSTED
// CERTIFICATE block, which is the DER certificate followed by OpenSSL's
// trust settings. Those settings are dropped.
func parsePEMCertificate(block *pem.Block) (*x509.Certificate, error) {
	der := block.Bytes
	if block.Type == "TRUSTED CERTIFICATE" {
		var first asn1.RawValue
		if _, err := asn1.Unmarshal(der, &first); err != nil {
			return nil, fmt.Errorf("parse TRUSTED CERTIFICATE block: %w", err)
		}
		der = first.FullBytes
	}
	return x509.ParseCertificate(der)
}

func parseDERCAs(label string, data []byte) ([]CA, error) {
	parsed, err := x509.ParseCertificates(data)
	if err != nil {
		if isPrivateKeyDER(data) {
			return nil, fmt.Errorf("%s is a private key, not a certificate; give the CA certificate, never a key", label)
		}
		return nil, fmt.Errorf("%s is neither PEM nor a DER certificate; give a CA certificate in one of those forms: %w", label, err)
	}
	var cas []CA
	seen := map[string]bool{}
	for _, c := range parsed {
		ca := newCA(c)
		if !seen[ca.SHA256] {
			seen[ca.SHA256] = true
			cas = append(cas, ca)
		}
	}
	return cas, nil
}

func isPrivateKeyDER(der []byte) bool {
	if _, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return true
	}
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return true
	}
	_, err := x509.ParseECPrivateKey(der)
	return err == nil
}

// isPrivateKeyType matches every PEM type that carries a private key:
// PKCS #8 (plain and encrypted), PKCS #1, SEC 1, OpenSSH and PGP armour.
func isPrivateKeyType(blockType string) bool {
	return strings.Contains(blockType, "PRIVATE KEY")
}

// IsPrivateKeyPEM reports whether data contains a PEM begin line of a
// private key type. A truncated or damaged block counts too, so callers
// can use it to keep keys out of diffs and logs.
func IsPrivateKeyPEM(data []byte) bool {
	const begin = "-----BEGIN "
	for rest := data; ; {
		i := bytes.Index(rest, []byte(begin))
		if i < 0 {
			return false
		}
		rest = rest[i+len(begin):]
		end := bytes.Index(rest, []byte("-----"))
		if end < 0 {
			return false
		}
		blockType := rest[:end]
		if !bytes.ContainsAny(blockType, "\r\n") && isPrivateKeyType(string(blockType)) {
			return true
		}
		rest = rest[end:]
	}
}

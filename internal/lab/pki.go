package lab

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Chain selects which certificates the lab registry serves and which
// one a host must trust to pull from it.
type Chain int

const (
	// ChainRootLeaf is a root CA that signs a leaf with an IP SAN for
	// the registry address. The registry sends leaf + root.
	ChainRootLeaf Chain = iota
	// ChainIntermediate is root -> intermediate -> leaf. The registry
	// sends leaf + intermediate, so the root is never on the wire.
	ChainIntermediate
	// ChainSelfSigned is a self-signed leaf with an IP SAN. The leaf is
	// the certificate to trust.
	ChainSelfSigned
	// ChainNoIPSAN is a root CA and a leaf that names only the DNS name
	// RegistryDNSName. A host that trusts the root still rejects the
	// registry by IP address.
	ChainNoIPSAN
)

// RegistryDNSName is the only SAN of a ChainNoIPSAN leaf. No host
// resolves it unless a test adds it to that host's /etc/hosts.
const RegistryDNSName = "registry.lab"

func (c Chain) String() string {
	switch c {
	case ChainRootLeaf:
		return "root+leaf"
	case ChainIntermediate:
		return "intermediate"
	case ChainSelfSigned:
		return "self-signed"
	case ChainNoIPSAN:
		return "no-ip-san"
	}
	return fmt.Sprintf("Chain(%d)", int(c))
}

// pki is the key material of one lab registry.
type pki struct {
	ca         *x509.Certificate // the certificate a host must trust
	chain      []*x509.Certificate
	keyPEM     []byte // leaf private key, PKCS #8
	serverName string // name a client verifies; empty means the IP
}

// certValidity is how long lab certificates stay valid. A lab lives
// for minutes, but certificates close to expiry make regtrust warn on
// every run, so they last longer than its default 30-day warning window.
const certValidity = 90 * 24 * time.Hour

// newPKI generates fresh keys and certificates for a registry that
// listens on ip.
func newPKI(kind Chain, ip netip.Addr, now time.Time) (*pki, error) {
	switch kind {
	case ChainRootLeaf, ChainNoIPSAN:
		root, rootKey, err := newCA("regtrust lab root CA", nil, nil, now)
		if err != nil {
			return nil, err
		}
		p := &pki{ca: root}
		if kind == ChainNoIPSAN {
			p.serverName = RegistryDNSName
		}
		leaf, keyPEM, err := newLeaf(ip, kind == ChainNoIPSAN, root, rootKey, now)
		if err != nil {
			return nil, err
		}
		p.chain = []*x509.Certificate{leaf, root}
		p.keyPEM = keyPEM
		return p, nil

	case ChainIntermediate:
		root, rootKey, err := newCA("regtrust lab root CA", nil, nil, now)
		if err != nil {
			return nil, err
		}
		inter, interKey, err := newCA("regtrust lab intermediate CA", root, rootKey, now)
		if err != nil {
			return nil, err
		}
		leaf, keyPEM, err := newLeaf(ip, false, inter, interKey, now)
		if err != nil {
			return nil, err
		}
		return &pki{
			ca:     root,
			chain:  []*x509.Certificate{leaf, inter},
			keyPEM: keyPEM,
		}, nil

	case ChainSelfSigned:
		leaf, keyPEM, err := newLeaf(ip, false, nil, nil, now)
		if err != nil {
			return nil, err
		}
		return &pki{
			ca:     leaf,
			chain:  []*x509.Certificate{leaf},
			keyPEM: keyPEM,
		}, nil
	}
	return nil, fmt.Errorf("create registry certificates: unknown chain %v", kind)
}

// newCA creates a CA certificate signed by parent, or a self-signed
// root when parent is nil.
func newCA(name string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key for %q: %w", name, err)
	}
	tmpl, err := baseTemplate(name, now)
	if err != nil {
		return nil, nil, err
	}
	tmpl.IsCA = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	if parent == nil {
		parent, parentKey = tmpl, key
	} else {
		tmpl.MaxPathLenZero = true
	}
	cert, err := sign(tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// newLeaf creates the registry's server certificate. With a nil parent
// the leaf signs itself.
func newLeaf(ip netip.Addr, dnsOnly bool, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, now time.Time) (*x509.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate registry key: %w", err)
	}
	tmpl, err := baseTemplate("regtrust lab registry", now)
	if err != nil {
		return nil, nil, err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if dnsOnly {
		tmpl.DNSNames = []string{RegistryDNSName}
	} else {
		tmpl.IPAddresses = []net.IP{ip.AsSlice()}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	cert, err := sign(tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode registry key: %w", err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	return cert, keyPEM, nil
}

func baseTemplate(name string, now time.Time) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name, Organization: []string{"regtrust lab"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		BasicConstraintsValid: true,
	}, nil
}

func sign(tmpl, parent *x509.Certificate, pub *ecdsa.PublicKey, parentKey *ecdsa.PrivateKey) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		return nil, fmt.Errorf("sign certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate %q: %w", tmpl.Subject.CommonName, err)
	}
	return cert, nil
}

// encodePEM returns certs as concatenated PEM blocks, in order.
func encodePEM(certs ...*x509.Certificate) []byte {
	var b []byte
	for _, c := range certs {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return b
}

// Fingerprint returns the SHA-256 of a certificate's DER bytes as
// colon-separated uppercase hex pairs ("AB:CD:..."), the form that
// `openssl x509 -fingerprint -sha256` prints.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	hexSum := strings.ToUpper(hex.EncodeToString(sum[:]))
	pairs := make([]string, 0, len(sum))
	for i := 0; i < len(hexSum); i += 2 {
		pairs = append(pairs, hexSum[i:i+2])
	}
	return strings.Join(pairs, ":")
}

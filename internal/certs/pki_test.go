package certs

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testCert is a certificate generated for a test, with its private key.
type testCert struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var serialNumber atomic.Int64

// certSpec describes a certificate to generate. Zero times mean valid from
// an hour ago for a day.
type certSpec struct {
	commonName string
	dnsNames   []string
	ips        []net.IP
	isCA       bool
	notBefore  time.Time
	notAfter   time.Time
	extUsage   []x509.ExtKeyUsage
}

// issue generates a certificate for spec, signed by parent, or self-signed
// when parent is nil.
func issue(t testing.TB, spec certSpec, parent *testCert) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	notBefore, notAfter := spec.notBefore, spec.notAfter
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-time.Hour)
	}
	if notAfter.IsZero() {
		notAfter = time.Now().Add(24 * time.Hour)
	}

	template := &x509.Certificate{
		SerialNumber:          big.NewInt(serialNumber.Add(1)),
		Subject:               pkix.Name{CommonName: spec.commonName},
		DNSNames:              spec.dnsNames,
		IPAddresses:           spec.ips,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		IsCA:                  spec.isCA,
		ExtKeyUsage:           spec.extUsage,
	}
	if spec.isCA {
		template.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	} else {
		template.KeyUsage = x509.KeyUsageDigitalSignature
		if template.ExtKeyUsage == nil {
			template.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		}
	}

	signerCert, signerKey := template, crypto.Signer(key)
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, template, signerCert, key.Public(), signerKey)
	if err != nil {
		t.Fatalf("create certificate %q: %v", spec.commonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate %q: %v", spec.commonName, err)
	}
	return &testCert{cert: cert, key: key}
}

func (c *testCert) certPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Raw})
}

func (c *testCert) keyPEM(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.key)
	if err != nil {
		t.Fatalf("marshal key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// testPKI is a root CA, an intermediate CA it signed, and a leaf for
// registry.test and 127.0.0.1 that the intermediate signed.
type testPKI struct {
	root, intermediate, leaf *testCert
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	root := issue(t, certSpec{commonName: "Test Root CA", isCA: true}, nil)
	intermediate := issue(t, certSpec{commonName: "Test Intermediate CA", isCA: true}, root)
	leaf := issue(t, certSpec{
		commonName: "registry.test",
		dnsNames:   []string{"registry.test"},
		ips:        []net.IP{net.IPv4(127, 0, 0, 1)},
	}, intermediate)
	return &testPKI{root: root, intermediate: intermediate, leaf: leaf}
}

// tlsServer is a TLS listener on loopback that completes one handshake per
// connection and records the SNI names that clients sent.
type tlsServer struct {
	addr string

	mu  sync.Mutex
	sni []string
}

// serveChain starts a tlsServer on network ("tcp4" or "tcp6") that sends
// chain, leaf first, and signs with the leaf's key. configure, when not
// nil, changes the server's TLS settings.
func serveChain(t *testing.T, network string, chain []*testCert, configure func(*tls.Config)) *tlsServer {
	t.Helper()
	host := "127.0.0.1:0"
	if network == "tcp6" {
		host = "[::1]:0"
	}
	listener, err := net.Listen(network, host)
	if err != nil {
		t.Fatalf("listen on %s: %v", host, err)
	}
	pair := tls.Certificate{PrivateKey: chain[0].key}
	for _, c := range chain {
		pair.Certificate = append(pair.Certificate, c.cert.Raw)
	}

	server := &tlsServer{addr: listener.Addr().String()}
	config := &tls.Config{
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			server.mu.Lock()
			server.sni = append(server.sni, hello.ServerName)
			server.mu.Unlock()
			return &pair, nil
		},
	}
	if configure != nil {
		configure(config)
	}

	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
				_ = tls.Server(conn, config).Handshake()
			})
		}
	})
	t.Cleanup(func() {
		listener.Close()
		wg.Wait()
	})
	return server
}

func (s *tlsServer) serverNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.sni...)
}

// dialRecorder returns a dial function that connects to addr whatever
// address it is asked for, and records the address asked for.
func dialRecorder(addr string, asked *string) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		*asked = address
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// Registry is a TLS server on 127.0.0.1 whose leaf certificate, for
// DNSName, is issued by a root CA made for the test.
type Registry struct {
	// Addr is "127.0.0.1:PORT".
	Addr string
	Port int
	// CA is the root that issued the leaf.
	CA    *x509.Certificate
	CAPEM []byte
}

// NewRegistry starts a TLS server on 127.0.0.1 that completes handshakes
// with a leaf for dnsName, followed by the root, and then closes each
// connection. The leaf and
// the root are valid from an hour ago for a day. The server stops when
// the test ends.
func NewRegistry(t testing.TB, rootCN, dnsName string) *Registry {
	t.Helper()
	root, rootKey := newCA(t, rootCN)
	now := time.Now()
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: dnsName},
		DNSNames:     []string{dnsName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, root, &leafKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}

	listener, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER, root.Raw}, PrivateKey: leafKey}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listener.Close() })
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				conn.(*tls.Conn).Handshake()
			}()
		}
	}()
	return &Registry{
		Addr:  listener.Addr().String(),
		Port:  listener.Addr().(*net.TCPAddr).Port,
		CA:    root,
		CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}),
	}
}

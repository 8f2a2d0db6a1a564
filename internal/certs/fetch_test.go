package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	longAgo   = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	agoEnd    = time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	farFuture = time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	futureEnd = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

func TestFetchPicksCA(t *testing.T) {
	p := newTestPKI(t)
	selfSigned := issue(t, certSpec{commonName: "registry.test", dnsNames: []string{"registry.test"}}, nil)
	// A self-signed certificate with CA:TRUE, as "openssl req -x509"
	// makes by default, served alone.
	selfSignedCA := issue(t, certSpec{commonName: "registry.test", dnsNames: []string{"registry.test"}, isCA: true, extUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, nil)

	tests := []struct {
		name         string
		chain        []*testCert
		wantCA       *testCert
		wantReason   string
		wantWarnings []string
	}{
		{
			name:       "full-chain-picks-root",
			chain:      []*testCert{p.leaf, p.intermediate, p.root},
			wantCA:     p.root,
			wantReason: "it is the self-signed root at the end of the chain the registry sent",
		},
		{
			name:         "no-root-picks-intermediate",
			chain:        []*testCert{p.leaf, p.intermediate},
			wantCA:       p.intermediate,
			wantReason:   `it is the topmost certificate sent; the root "CN=Test Root CA" that issued it was not sent`,
			wantWarnings: []string{`the registry did not send its root CA "CN=Test Root CA"; trusting the topmost intermediate CA it sent, "CN=Test Intermediate CA", breaks when that intermediate CA is renewed, so supply the real root CA instead`},
		},
		{
			name:         "leaf-only-picks-leaf",
			chain:        []*testCert{p.leaf},
			wantCA:       p.leaf,
			wantReason:   "the registry sent only its leaf certificate, and no CA",
			wantWarnings: []string{`the registry sent only its own certificate "CN=registry.test", not the CA "CN=Test Intermediate CA" that issued it; trusting the leaf breaks when it is renewed, so supply the issuing root CA instead`},
		},
		{
			name:         "self-signed-leaf",
			chain:        []*testCert{selfSigned},
			wantCA:       selfSigned,
			wantReason:   "the registry sent one self-signed certificate, which is its own CA",
			wantWarnings: []string{`the registry's certificate "CN=registry.test" is a self-signed leaf and serves as its own CA; renewing it replaces it, so every host must be updated again; a private CA that issues the registry's certificate avoids this`},
		},
		{
			name:         "self-signed-with-ca-flag",
			chain:        []*testCert{selfSignedCA},
			wantCA:       selfSignedCA,
			wantReason:   "the registry sent one self-signed certificate, which is its own CA",
			wantWarnings: []string{`the registry's certificate "CN=registry.test" is a self-signed leaf and serves as its own CA; renewing it replaces it, so every host must be updated again; a private CA that issues the registry's certificate avoids this`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := serveChain(t, "tcp4", tt.chain, nil)
			var dialed string
			chain, err := Fetch(context.Background(), "registry.test", dialRecorder(server.addr, &dialed))
			if err != nil {
				t.Fatalf("Fetch: got error %v; want nil", err)
			}
			if got, want := chain.CA.SHA256, Fingerprint(tt.wantCA.cert); got != want {
				t.Errorf("CA fingerprint: got %s; want %s (%s)", got, want, tt.wantCA.cert.Subject)
			}
			if chain.Reason != tt.wantReason {
				t.Errorf("reason: got %q; want %q", chain.Reason, tt.wantReason)
			}
			if !slices.Equal(chain.Warnings, tt.wantWarnings) {
				t.Errorf("warnings: got %q; want %q", chain.Warnings, tt.wantWarnings)
			}
			if got, want := len(chain.Certs), len(tt.chain); got != want {
				t.Fatalf("certs: got %d; want %d", got, want)
			}
			for i, c := range tt.chain {
				if !chain.Certs[i].Equal(c.cert) {
					t.Errorf("cert %d: got %s; want %s", i, chain.Certs[i].Subject, c.cert.Subject)
				}
			}
			if got, want := string(chain.CA.PEM), string(tt.wantCA.certPEM()); got != want {
				t.Errorf("CA PEM: got %q; want %q", got, want)
			}
			if want := "registry.test:443"; dialed != want {
				t.Errorf("dialed: got %q; want %q", dialed, want)
			}
			if got, want := server.serverNames(), []string{"registry.test"}; !slices.Equal(got, want) {
				t.Errorf("SNI: got %q; want %q", got, want)
			}
		})
	}
}

func TestFetchRejectsCertificate(t *testing.T) {
	p := newTestPKI(t)
	root, inter := p.root, p.intermediate
	dnsOnly := issue(t, certSpec{commonName: "registry.test", dnsNames: []string{"registry.test"}}, inter)
	noSAN := issue(t, certSpec{commonName: "registry.test"}, inter)
	otherName := issue(t, certSpec{commonName: "other", dnsNames: []string{"other.test", "*.other.test"}, ips: []net.IP{net.IPv4(10, 0, 0, 9)}}, inter)
	expired := issue(t, certSpec{commonName: "registry.test", dnsNames: []string{"registry.test"}, notBefore: longAgo, notAfter: agoEnd}, inter)
	notYet := issue(t, certSpec{commonName: "registry.test", dnsNames: []string{"registry.test"}, notBefore: farFuture, notAfter: futureEnd}, inter)
	clientOnly := issue(t, certSpec{commonName: "registry.test", dnsNames: []string{"registry.test"}, extUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, inter)
	expiredInter := issue(t, certSpec{commonName: "Old Intermediate CA", isCA: true, notBefore: longAgo, notAfter: agoEnd}, root)
	underExpired := issue(t, certSpec{commonName: "registry.test", dnsNames: []string{"registry.test"}, notBefore: longAgo, notAfter: futureEnd}, expiredInter)
	strangerRoot := issue(t, certSpec{commonName: "Stranger Root CA", isCA: true}, nil)

	tests := []struct {
		name    string
		address string // "" means registry.test, dialed to the server
		chain   []*testCert
		wantErr string
	}{
		{
			name:    "no-san",
			chain:   []*testCert{noSAN, inter, root},
			wantErr: `certificate has no subjectAltName; Go ignores the Common Name "registry.test"; reissue it with a SAN for registry.test`,
		},
		{
			name:    "no-san-by-ip",
			address: "127.0.0.1",
			chain:   []*testCert{noSAN, inter, root},
			wantErr: `certificate has no subjectAltName; Go ignores the Common Name "registry.test"; reissue it with an IP SAN for 127.0.0.1`,
		},
		{
			name:    "other-name",
			chain:   []*testCert{otherName, inter, root},
			wantErr: `certificate is not valid for registry.test (its SANs: DNS:other.test, DNS:*.other.test, IP:10.0.0.9); reissue it with a SAN for registry.test, or reach the registry by one of the names it has`,
		},
		{
			name:    "ip-without-ip-san",
			address: "127.0.0.1",
			chain:   []*testCert{dnsOnly, inter, root},
			wantErr: `certificate has no IP subjectAltName, so it is not valid for the IP address 127.0.0.1 (its SANs: DNS:registry.test); reissue it with an IP SAN for 127.0.0.1, or reach the registry by one of its names`,
		},
		{
			name:    "expired-leaf",
			chain:   []*testCert{expired, inter, root},
			wantErr: `certificate "CN=registry.test" expired at 2021-01-01T00:00:00Z (valid from 2020-01-01T00:00:00Z); renew it`,
		},
		{
			name:    "not-yet-valid-leaf",
			chain:   []*testCert{notYet, inter, root},
			wantErr: `certificate "CN=registry.test" is not valid before 2099-01-01T00:00:00Z; check the clocks of this machine and of the machine that issued it`,
		},
		{
			name:  "expired-and-no-san",
			chain: []*testCert{issue(t, certSpec{commonName: "registry.test", notBefore: longAgo, notAfter: agoEnd}, inter), inter, root},
			wantErr: `certificate "CN=registry.test" expired at 2021-01-01T00:00:00Z (valid from 2020-01-01T00:00:00Z); renew it` + "\n" +
				`certificate has no subjectAltName; Go ignores the Common Name "registry.test"; reissue it with a SAN for registry.test`,
		},
		{
			name:    "client-auth-only",
			chain:   []*testCert{clientOnly, inter, root},
			wantErr: `the chain of "CN=registry.test" does not allow server authentication; reissue it with extended key usage serverAuth: x509: certificate specifies an incompatible key usage`,
		},
		{
			name:    "expired-intermediate",
			chain:   []*testCert{underExpired, expiredInter, root},
			wantErr: `certificate "CN=Old Intermediate CA" in the chain is valid only from 2020-01-01T00:00:00Z to 2021-01-01T00:00:00Z; renew it`,
		},
		{
			name:    "mismatched-root",
			chain:   []*testCert{p.leaf, inter, strangerRoot},
			wantErr: `the registry's certificate does not chain to the CA "CN=Stranger Root CA" picked from what it sent; configure the registry to send its full chain, leaf first: x509: certificate signed by unknown authority`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server := serveChain(t, "tcp4", tt.chain, nil)
			address, dial := "registry.test", (func(context.Context, string, string) (net.Conn, error))(nil)
			var dialed string
			if tt.address == "" {
				dial = dialRecorder(server.addr, &dialed)
			} else {
				_, port, _ := net.SplitHostPort(server.addr)
				address = net.JoinHostPort(tt.address, port)
			}
			chain, err := Fetch(context.Background(), address, dial)
			if err == nil {
				t.Fatalf("Fetch: got CA %s; want error", chain.CA.Cert.Subject)
			}
			if !errors.Is(err, ErrCertificateUnusable) {
				t.Errorf("errors.Is(err, ErrCertificateUnusable): got false; want true for %v", err)
			}
			target := "registry.test:443"
			if tt.address != "" {
				target = address
			}
			want := "fetch CA from " + target + ": unusable registry certificate: " + tt.wantErr
			if got := err.Error(); got != want {
				t.Errorf("error:\ngot  %s\nwant %s", got, want)
			}
		})
	}
}

func TestFetchAddresses(t *testing.T) {
	p := newTestPKI(t)
	v6leaf := issue(t, certSpec{commonName: "registry.test", ips: []net.IP{net.IPv6loopback}}, p.intermediate)

	ipTests := []struct {
		name    string
		network string
		leaf    *testCert
	}{
		{"ipv4-no-sni", "tcp4", p.leaf},
		{"ipv6-bracketed-no-sni", "tcp6", v6leaf},
	}
	for _, tt := range ipTests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.network == "tcp6" {
				l, err := net.Listen("tcp6", "[::1]:0")
				if err != nil {
					t.Skipf("IPv6 loopback unavailable: %v", err)
				}
				l.Close()
			}
			server := serveChain(t, tt.network, []*testCert{tt.leaf, p.intermediate, p.root}, nil)
			chain, err := Fetch(context.Background(), server.addr, nil)
			if err != nil {
				t.Fatalf("Fetch %s: got error %v; want nil", server.addr, err)
			}
			if got, want := chain.CA.SHA256, Fingerprint(p.root.cert); got != want {
				t.Errorf("CA: got %s; want %s", got, want)
			}
			if got, want := server.serverNames(), []string{""}; !slices.Equal(got, want) {
				t.Errorf("SNI: got %q; want %q", got, want)
			}
		})
	}

	dialTests := []struct {
		address    string
		wantDialed string
	}{
		{"registry.test", "registry.test:443"},
		{"registry.test:5000", "registry.test:5000"},
		{" registry.test:5000 ", "registry.test:5000"},
		{"127.0.0.1", "127.0.0.1:443"},
		{"[::1]", "[::1]:443"},
		{"[::1]:5000", "[::1]:5000"},
	}
	server := serveChain(t, "tcp4", []*testCert{p.leaf, p.intermediate, p.root}, nil)
	for _, tt := range dialTests {
		t.Run("dial-"+tt.address, func(t *testing.T) {
			var dialed string
			// Only the dialed address matters here; a name mismatch for
			// the IPv6 cases is expected.
			_, _ = Fetch(context.Background(), tt.address, dialRecorder(server.addr, &dialed))
			if dialed != tt.wantDialed {
				t.Errorf("dialed: got %q; want %q", dialed, tt.wantDialed)
			}
		})
	}

	invalid := []struct {
		address string
		wantErr string
	}{
		{"", `invalid registry address "": empty; want host[:port] or [IPv6][:port]`},
		{"https://registry.test", `invalid registry address "https://registry.test": no scheme or path allowed; want host[:port] or [IPv6][:port]`},
		{"registry.test/v2", `invalid registry address "registry.test/v2": no scheme or path allowed; want host[:port] or [IPv6][:port]`},
		{"::1", `invalid registry address "::1": put an IPv6 address in brackets; want host[:port] or [IPv6][:port]`},
		{"[::1", `invalid registry address "[::1": missing ]; want host[:port] or [IPv6][:port]`},
		{"[::1]x", `invalid registry address "[::1]x": unexpected text after ]; want host[:port] or [IPv6][:port]`},
		{"[10.0.0.1]:443", `invalid registry address "[10.0.0.1]:443": brackets must hold an IPv6 address; want host[:port] or [IPv6][:port]`},
		{":443", `invalid registry address ":443": missing host; want host[:port] or [IPv6][:port]`},
		{"registry.test:0", `invalid registry address "registry.test:0": port must be a number from 1 to 65535; want host[:port] or [IPv6][:port]`},
		{"registry.test:65536", `invalid registry address "registry.test:65536": port must be a number from 1 to 65535; want host[:port] or [IPv6][:port]`},
		{"registry.test:+5", `invalid registry address "registry.test:+5": port must be a number from 1 to 65535; want host[:port] or [IPv6][:port]`},
		{"registry.test:", `invalid registry address "registry.test:": port must be a number from 1 to 65535; want host[:port] or [IPv6][:port]`},
	}
	for _, tt := range invalid {
		t.Run("invalid-"+tt.address, func(t *testing.T) {
			dial := func(context.Context, string, string) (net.Conn, error) {
				t.Errorf("dial called for invalid address %q", tt.address)
				return nil, errors.New("unexpected dial")
			}
			_, err := Fetch(context.Background(), tt.address, dial)
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("error: got %v; want %s", err, tt.wantErr)
			}
		})
	}
}

func TestFetchHandshakeProblems(t *testing.T) {
	p := newTestPKI(t)

	t.Run("client-cert-required-tls12", func(t *testing.T) {
		server := serveChain(t, "tcp4", []*testCert{p.leaf, p.intermediate, p.root}, func(c *tls.Config) {
			c.MaxVersion = tls.VersionTLS12
			c.ClientAuth = tls.RequireAnyClientCert
		})
		var dialed string
		chain, err := Fetch(context.Background(), "registry.test", dialRecorder(server.addr, &dialed))
		if err != nil {
			t.Fatalf("Fetch: got error %v; want nil", err)
		}
		if got, want := chain.CA.SHA256, Fingerprint(p.root.cert); got != want {
			t.Errorf("CA: got %s; want %s", got, want)
		}
		wantPrefix := "the TLS handshake failed after the registry sent its certificates ("
		if len(chain.Warnings) != 1 || !strings.HasPrefix(chain.Warnings[0], wantPrefix) {
			t.Errorf("warnings: got %q; want one starting with %q", chain.Warnings, wantPrefix)
		}
	})

	t.Run("plain-tcp", func(t *testing.T) {
		listener, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		defer listener.Close()
		go func() {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
			_, _ = conn.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
		}()
		_, err = Fetch(context.Background(), listener.Addr().String(), nil)
		want := "fetch CA from " + listener.Addr().String() + ": TLS handshake: the server does not speak TLS"
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error: got %v; want prefix %q", err, want)
		}
	})

	t.Run("dial-error", func(t *testing.T) {
		dialErr := errors.New("no route through the jump host")
		dial := func(context.Context, string, string) (net.Conn, error) { return nil, dialErr }
		_, err := Fetch(context.Background(), "registry.test:5000", dial)
		if !errors.Is(err, dialErr) {
			t.Errorf("errors.Is(err, dialErr): got false; want true for %v", err)
		}
		if want := "fetch CA from registry.test:5000: connect: no route through the jump host"; err == nil || err.Error() != want {
			t.Errorf("error: got %v; want %s", err, want)
		}
	})

	t.Run("cancelled-context", func(t *testing.T) {
		// The server accepts the connection but never sends a handshake reply.
		listener, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
		defer listener.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			if conn, err := listener.Accept(); err == nil {
				accepted <- conn
			}
		}()
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			conn := <-accepted
			cancel()
			defer conn.Close()
		}()
		_, err = Fetch(ctx, listener.Addr().String(), nil)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("errors.Is(err, context.Canceled): got false; want true for %v", err)
		}
	})
}

func TestIsSelfSigned(t *testing.T) {
	p := newTestPKI(t)
	// An impostor has the root's name as subject and issuer, but another
	// key signed it.
	otherSigner := &testCert{
		cert: &x509.Certificate{Subject: p.root.cert.Subject, PublicKey: p.intermediate.key.Public()},
		key:  p.intermediate.key,
	}
	impostor := issue(t, certSpec{commonName: "Test Root CA", isCA: true}, otherSigner)

	tests := []struct {
		name string
		cert *x509.Certificate
		want bool
	}{
		{"root", p.root.cert, true},
		{"intermediate", p.intermediate.cert, false},
		{"leaf", p.leaf.cert, false},
		{"same-name-other-key", impostor.cert, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := isSelfSigned(tt.cert); got != tt.want {
				t.Errorf("isSelfSigned(%s): got %v; want %v", tt.cert.Subject, got, tt.want)
			}
		})
	}
}

func BenchmarkFetchLoopback(b *testing.B) {
	p := newTestPKI(b)
	// serveChain needs a *testing.T for its cleanup, so the benchmark
	// starts its own listener.
	listener, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatalf("listen: %v", err)
	}
	defer listener.Close()
	pair := tls.Certificate{PrivateKey: p.leaf.key, Certificate: [][]byte{p.leaf.cert.Raw, p.intermediate.cert.Raw, p.root.cert.Raw}}
	config := &tls.Config{Certificates: []tls.Certificate{pair}}
	go func() {
		for {
			conn, err := listener.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = tls.Server(conn, config).Handshake()
			}()
		}
	}()
	for b.Loop() {
		if _, err := Fetch(context.Background(), listener.Addr().String(), nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseCAFile(b *testing.B) {
	p := newTestPKI(b)
	data := concat(p.root.certPEM(), p.intermediate.certPEM())
	for b.Loop() {
		if _, err := ParseCAFile("ca.crt", data); err != nil {
			b.Fatal(err)
		}
	}
}

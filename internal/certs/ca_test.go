package certs

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParsePin(t *testing.T) {
	p := newTestPKI(t)
	canonical := Fingerprint(p.root.cert)
	sum := sha256.Sum256(p.root.cert.Raw)
	plain := hex.EncodeToString(sum[:])

	tests := []struct {
		name string
		pin  string
	}{
		{"canonical", canonical},
		{"lower-case-colons", strings.ToLower(canonical)},
		{"plain-lower", plain},
		{"plain-upper", strings.ToUpper(plain)},
		{"mixed-case", strings.ToUpper(plain[:10]) + plain[10:]},
		{"surrounding-spaces", "  " + canonical + "\t\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePin(tt.pin)
			if err != nil {
				t.Fatalf("ParsePin(%q): got error %v; want nil", tt.pin, err)
			}
			if got != canonical {
				t.Errorf("ParsePin(%q): got %s; want %s", tt.pin, got, canonical)
			}
		})
	}
}

func TestParsePinInvalid(t *testing.T) {
	plain := strings.Repeat("ab", 32)
	colons := strings.TrimSuffix(strings.Repeat("AB:", 32), ":")
	tests := []struct {
		name string
		pin  string
	}{
		{"empty", ""},
		{"spaces", "   "},
		{"short", plain[:62]},
		{"long", plain + "ab"},
		{"not-hex", "zz" + plain[2:]},
		{"sha1-length", strings.Repeat("ab", 20)},
		{"colon-groups-of-four", strings.TrimSuffix(strings.Repeat("ABCD:", 16), ":")},
		{"missing-group", colons[3:]},
		{"trailing-colon", colons + ":"},
		{"spaces-inside", strings.ReplaceAll(colons, ":", " ")},
		{"prefix", "sha256:" + plain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePin(tt.pin)
			if err == nil {
				t.Fatalf("ParsePin(%q): got %s; want error", tt.pin, got)
			}
			want := `invalid CA pin "` + tt.pin + `": a pin is 64 hex digits (SHA-256 of the DER certificate), plain or colon-separated as in "AB:12:..."; get it with: openssl x509 -noout -fingerprint -sha256 -in ca.crt`
			if err.Error() != want {
				t.Errorf("error: got %v; want %s", err, want)
			}
		})
	}
}

func TestFingerprintFormat(t *testing.T) {
	p := newTestPKI(t)
	got := Fingerprint(p.leaf.cert)
	sum := sha256.Sum256(p.leaf.cert.Raw)
	if want := strings.ToUpper(hex.EncodeToString(sum[:])); strings.ReplaceAll(got, ":", "") != want {
		t.Errorf("digits: got %s; want %s", got, want)
	}
	if want := 32*2 + 31; len(got) != want {
		t.Errorf("length: got %d; want %d", len(got), want)
	}
}

func TestCAVerify(t *testing.T) {
	p := newTestPKI(t)
	ca := newCA(p.root.cert)
	other := Fingerprint(p.intermediate.cert)

	t.Run("match-any-form", func(t *testing.T) {
		pin := strings.ToLower(strings.ReplaceAll(ca.SHA256, ":", ""))
		if err := ca.Verify(pin); err != nil {
			t.Errorf("Verify: got %v; want nil", err)
		}
	})
	t.Run("mismatch", func(t *testing.T) {
		err := ca.Verify(other)
		if !errors.Is(err, ErrPinMismatch) {
			t.Fatalf("errors.Is(err, ErrPinMismatch): got false; want true for %v", err)
		}
		want := "CA fingerprint does not match the pin: the registry presented a different CA than pinned: got " + ca.SHA256 +
			" (CN=Test Root CA), pinned " + other + "; check whether the registry's CA was replaced or the connection is intercepted before updating the pin"
		if err.Error() != want {
			t.Errorf("error:\ngot  %v\nwant %s", err, want)
		}
	})
	t.Run("invalid-pin", func(t *testing.T) {
		err := ca.Verify("abc")
		if err == nil || errors.Is(err, ErrPinMismatch) {
			t.Errorf("Verify(abc): got %v; want an invalid pin error", err)
		}
	})
}

func TestCAPEMNormalised(t *testing.T) {
	p := newTestPKI(t)
	ca := newCA(p.root.cert)
	pemText := string(ca.PEM)
	if strings.Contains(pemText, "\r") {
		t.Errorf("PEM has CR: %q", pemText)
	}
	if !strings.HasSuffix(pemText, "-----END CERTIFICATE-----\n") {
		t.Errorf("PEM end: got %q; want one trailing newline after the END line", pemText[len(pemText)-30:])
	}
}

func TestDescribe(t *testing.T) {
	root := issue(t, certSpec{commonName: "Test Root CA", isCA: true, notBefore: longAgo, notAfter: futureEnd}, nil)
	leaf := issue(t, certSpec{commonName: "bad\nname", dnsNames: []string{"x.test"}, notAfter: farFuture}, root)

	tests := []struct {
		name string
		cert *testCert
		want string
	}{
		{"root", root, `subject="CN=Test Root CA" issuer="CN=Test Root CA" not-after=2100-01-01 sha256=` + Fingerprint(root.cert)},
		{"control-character", leaf, `subject="CN=bad\nname" issuer="CN=Test Root CA" not-after=2099-01-01 sha256=` + Fingerprint(leaf.cert)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Describe(tt.cert.cert); got != tt.want {
				t.Errorf("Describe:\ngot  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestExpiryWarning(t *testing.T) {
	c := issue(t, certSpec{commonName: "Test Root CA", isCA: true, notBefore: longAgo, notAfter: agoEnd}, nil).cert
	day := 24 * time.Hour
	window := 30 * day

	tests := []struct {
		name string
		now  time.Time
		want string
	}{
		{"valid", agoEnd.Add(-60 * day), ""},
		{"inside-window", agoEnd.Add(-10*day - time.Hour), `certificate "CN=Test Root CA" expires on 2021-01-01, in 10 days; renew it and run again`},
		{"last-day", agoEnd.Add(-time.Hour), `certificate "CN=Test Root CA" expires on 2021-01-01, in less than a day; renew it and run again`},
		{"expired", agoEnd.Add(day + time.Hour), `certificate "CN=Test Root CA" expired on 2021-01-01, 1 day ago; replace it`},
		{"not-yet-valid", longAgo.Add(-3 * day), `certificate "CN=Test Root CA" is not valid before 2020-01-01, 3 days from now; check the clock of the machine that issued it`},
		{"window-edge", agoEnd.Add(-window), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExpiryWarning(c, tt.now, window); got != tt.want {
				t.Errorf("ExpiryWarning at %s:\ngot  %q\nwant %q", tt.now, got, tt.want)
			}
		})
	}
}

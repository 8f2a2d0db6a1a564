package tasks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regtrust/regtrust/internal/certs"
	"github.com/regtrust/regtrust/internal/testpki"
)

func TestResolveCAFileWithSeveralCAs(t *testing.T) {
	_, firstPEM := testpki.NewCA(t, "First Root")
	_, secondPEM := testpki.NewCA(t, "Second Root")
	file := filepath.Join(t.TempDir(), "bundle.pem")
	if err := os.WriteFile(file, append(append([]byte{}, firstPEM...), secondPEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	first, _ := certs.ParseCAPEM(firstPEM)
	second, _ := certs.ParseCAPEM(secondPEM)
	tests := []struct {
		name    string
		pin     string
		wantErr error
	}{
		{name: "unpinned"},
		{name: "pin-matches-second", pin: second[0].SHA256},
		{name: "pin-matches-none", pin: strings.Repeat("AB", 32), wantErr: certs.ErrPinMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Registry{Name: "lab", Address: "registry.test", CAFile: file, Pin: tt.pin}
			if tt.pin != "" {
				r.Pin, _ = certs.ParsePin(tt.pin)
			}
			err := ResolveCA(context.Background(), r, nil, 0, time.Now())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ResolveCA error = %v; want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				for _, fp := range []string{first[0].SHA256, second[0].SHA256} {
					if !strings.Contains(err.Error(), fp) {
						t.Errorf("error %q does not list fingerprint %s", err, fp)
					}
				}
				return
			}
			if len(r.CAs) != 2 {
				t.Fatalf("CAs = %d; want 2", len(r.CAs))
			}
			if r.CA.SHA256 != first[0].SHA256 {
				t.Errorf("CA = %s; want the first certificate %s", r.CA.SHA256, first[0].SHA256)
			}
			if got, want := string(r.CABundle()), string(firstPEM)+string(secondPEM); got != want {
				t.Errorf("CABundle = %q; want %q", got, want)
			}
		})
	}
}

func TestResolveCAExpiryWarning(t *testing.T) {
	_, caPEM := testpki.NewCAValidFor(t, "Short Lived Root", 24*time.Hour)
	tests := []struct {
		name        string
		window      time.Duration
		registryWin string
		wantWarning bool
	}{
		{name: "within-run-window", window: DefaultExpiryWindow, wantWarning: true},
		{name: "outside-run-window", window: time.Hour},
		{name: "window-off", window: 0},
		{name: "registry-window-wins", window: time.Hour, registryWin: "2d", wantWarning: true},
		{name: "registry-window-off", window: DefaultExpiryWindow, registryWin: "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Registry{Name: "lab", Address: "registry.test", CAPEM: string(caPEM)}
			if tt.registryWin != "" {
				w, err := ParseExpiryWindow(tt.registryWin)
				if err != nil {
					t.Fatal(err)
				}
				r.ExpiryWindow, r.HasExpiryWindow = w, true
			}
			if err := ResolveCA(context.Background(), r, nil, tt.window, time.Now()); err != nil {
				t.Fatal(err)
			}
			got := strings.Join(r.Warnings, "\n")
			has := strings.Contains(got, `CA certificate "CN=Short Lived Root" expires on`)
			if has != tt.wantWarning {
				t.Errorf("warnings = %q; want an expiry warning: %v", got, tt.wantWarning)
			}
		})
	}
}

func TestParseExpiryWindow(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: "30d", want: 30 * 24 * time.Hour},
		{in: "720h", want: 720 * time.Hour},
		{in: "0", want: 0},
		{in: " 7d ", want: 7 * 24 * time.Hour},
		{in: "-1d", wantErr: true},
		{in: "-5h", wantErr: true},
		{in: "month", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseExpiryWindow(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseExpiryWindow(%q) error = %v; want error: %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseExpiryWindow(%q) = %v; want %v", tt.in, got, tt.want)
			}
		})
	}
}

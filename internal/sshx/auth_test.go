package sshx

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/regtrust/regtrust/internal/secret"
	"github.com/regtrust/regtrust/internal/sshtest"
)

const (
	testPassphrase = "correct horse battery"
	testPassword   = "s3cret-pw"
)

// passphraseCounter returns a PassphraseFunc that returns the given passphrases in
// order, one per call, and counts its calls.
func passphraseCounter(answers ...string) (PassphraseFunc, *atomic.Int32) {
	var calls atomic.Int32
	return func(file string, attempt int) (secret.Value, error) {
		n := int(calls.Add(1))
		if n > len(answers) {
			return secret.Value{}, errors.New("no more passphrases")
		}
		return secret.New(answers[n-1]), nil
	}, &calls
}

func TestDialEncryptedKey(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	key, signer := sshtest.NewKey(t)
	srv := sshtest.NewServer(t, sshtest.WithAuthorizedKeys(signer.PublicKey()))
	encrypted := sshtest.WriteKeyFile(t, key, testPassphrase)

	tests := []struct {
		name      string
		answers   []string
		wantCalls int32
		wantErr   string // empty for a successful login
	}{
		{name: "right passphrase", answers: []string{testPassphrase}, wantCalls: 1},
		{name: "wrong then right", answers: []string{"wrong", testPassphrase}, wantCalls: 2},
		{name: "wrong three times", answers: []string{"a", "b", "c", testPassphrase}, wantCalls: 3, wantErr: "wrong passphrase after 3 attempts"},
		{name: "source fails", answers: nil, wantCalls: 1, wantErr: "get passphrase for identity file " + encrypted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			passphrase, calls := passphraseCounter(tt.answers...)
			cfg := configFor(srv)
			cfg.IdentityFiles = []string{encrypted}
			cfg.Keys = NewKeys(passphrase)

			c, err := Dial(context.Background(), cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Dial error = %v; want nil", err)
				}
				c.Close()
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Dial error = %v; want one containing %q", err, tt.wantErr)
			}
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("passphrase calls = %d; want %d", got, tt.wantCalls)
			}
			if err != nil && strings.Contains(err.Error(), testPassphrase) {
				t.Errorf("error = %q; want no passphrase in it", err)
			}
		})
	}
}

func TestKeysAskOncePerFile(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	key, signer := sshtest.NewKey(t)
	srv := sshtest.NewServer(t, sshtest.WithAuthorizedKeys(signer.PublicKey()))
	encrypted := sshtest.WriteKeyFile(t, key, testPassphrase)
	passphrase, calls := passphraseCounter(testPassphrase)
	keys := NewKeys(passphrase)

	const dials = 8
	var wg sync.WaitGroup
	errs := make([]error, dials)
	for i := range dials {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := configFor(srv)
			cfg.IdentityFiles = []string{encrypted}
			cfg.Keys = keys
			c, err := Dial(context.Background(), cfg)
			if err == nil {
				c.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Dial %d error = %v; want nil", i, err)
		}
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("passphrase calls = %d over %d concurrent Dials; want 1", got, dials)
	}
}

func TestDialPassword(t *testing.T) {
	t.Setenv("SSH_AUTH_SOCK", "")
	srv := sshtest.NewServer(t, sshtest.WithPassword(testPassword))
	strangerKey, _ := sshtest.NewKey(t)

	tests := []struct {
		name       string
		password   string
		identities []string
		wantErr    error
	}{
		{name: "password only", password: testPassword},
		{name: "rejected key then password", password: testPassword, identities: []string{sshtest.WriteKeyFile(t, strangerKey, "")}},
		{name: "wrong password", password: "not-it", wantErr: ErrAuthFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := configFor(srv)
			cfg.IdentityFiles = tt.identities
			cfg.Password = secret.New(tt.password)

			c, err := Dial(context.Background(), cfg)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Dial error = %v; want %v", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), tt.password) {
					t.Errorf("error = %q; want no password in it", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial error = %v; want nil", err)
			}
			defer c.Close()
			got, err := c.Run(context.Background(), "echo ok", nil)
			if err != nil || string(got.Stdout) != "ok\n" {
				t.Errorf("Run = %q, %v; want \"ok\\n\", nil", got.Stdout, err)
			}
		})
	}
}

func TestAnswerPasswordPrompts(t *testing.T) {
	answer := answerPasswordPrompts(secret.New(testPassword))
	tests := []struct {
		name      string
		questions []string
		echos     []bool
		want      []string
		wantErr   bool
	}{
		{name: "no question", want: []string{}},
		{name: "hidden prompt", questions: []string{"Password: "}, echos: []bool{false}, want: []string{testPassword}},
		{name: "visible prompt", questions: []string{"Code: "}, echos: []bool{true}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := answer("u", "", tt.questions, tt.echos)
			if (err != nil) != tt.wantErr {
				t.Fatalf("answer error = %v; want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("answers = %q; want %q", got, tt.want)
			}
		})
	}
}

package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regtrust/regtrust/internal/secret"
)

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("TEST_SECRET_PW", "from-env")
	t.Setenv("TEST_SECRET_EMPTY", "")
	tests := []struct {
		name     string
		envVar   string
		file     string
		want     string
		wantErr  string
		wantWarn bool
	}{
		{name: "none given", want: ""},
		{name: "environment", envVar: "TEST_SECRET_PW", want: "from-env"},
		{name: "file first line", file: write("pw", "from-file\r\nsecond line\n", 0o600), want: "from-file"},
		{name: "file without newline", file: write("pw2", "bare", 0o600), want: "bare"},
		{name: "readable by others", file: write("pw3", "loose\n", 0o644), want: "loose", wantWarn: true},
		{name: "empty variable", envVar: "TEST_SECRET_EMPTY", wantErr: "not set or empty"},
		{name: "unset variable", envVar: "TEST_SECRET_UNSET_X", wantErr: "not set or empty"},
		{name: "empty file", file: write("empty", "\nx\n", 0o600), wantErr: "first line is empty"},
		{name: "missing file", file: filepath.Join(dir, "missing"), wantErr: "--password-file"},
		{name: "both", envVar: "TEST_SECRET_PW", file: write("pw4", "x", 0o600), wantErr: "both given"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var warn bytes.Buffer
			got, err := readSecret("--password", tt.envVar, tt.file, &warn)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("readSecret error = %v; want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("readSecret error = %v; want nil", err)
			}
			if got.Reveal() != tt.want {
				t.Errorf("readSecret = %q; want %q", got.Reveal(), tt.want)
			}
			if gotWarn := warn.Len() > 0; gotWarn != tt.wantWarn {
				t.Errorf("warning %q; want a warning %v", warn.String(), tt.wantWarn)
			}
			if strings.Contains(warn.String(), tt.want) && tt.want != "" {
				t.Errorf("warning %q shows the secret", warn.String())
			}
		})
	}
}

func TestPassphraseSource(t *testing.T) {
	var prompts []string
	prompt := func(text string) (secret.Value, error) {
		prompts = append(prompts, text)
		return secret.New("typed"), nil
	}
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }

	t.Run("environment first", func(t *testing.T) {
		env[passphraseEnv] = "env-pass"
		defer delete(env, passphraseEnv)
		got, err := passphraseSource(getenv, prompt)("/k", 1)
		if err != nil || got.Reveal() != "env-pass" {
			t.Errorf("passphrase = %q, %v; want env-pass, nil", got.Reveal(), err)
		}
		if _, err := passphraseSource(getenv, prompt)("/k", 2); err == nil || strings.Contains(err.Error(), "env-pass") {
			t.Errorf("second attempt error = %v; want one without the passphrase", err)
		}
		if len(prompts) != 0 {
			t.Errorf("prompts = %q; want none while %s is set", prompts, passphraseEnv)
		}
	})
	t.Run("terminal prompt", func(t *testing.T) {
		got, err := passphraseSource(getenv, prompt)("/keys/id", 2)
		if err != nil || got.Reveal() != "typed" {
			t.Errorf("passphrase = %q, %v; want typed, nil", got.Reveal(), err)
		}
		if len(prompts) != 1 || !strings.Contains(prompts[0], "/keys/id") || !strings.HasPrefix(prompts[0], "Wrong passphrase") {
			t.Errorf("prompts = %q; want one naming /keys/id after a wrong passphrase", prompts)
		}
	})
	t.Run("no terminal", func(t *testing.T) {
		_, err := passphraseSource(getenv, nil)("/keys/id", 1)
		if err == nil || !strings.Contains(err.Error(), passphraseEnv) {
			t.Errorf("error = %v; want one naming %s", err, passphraseEnv)
		}
	})
	t.Run("prompt fails", func(t *testing.T) {
		failing := func(string) (secret.Value, error) { return secret.Value{}, errors.New("no tty") }
		if _, err := passphraseSource(getenv, failing)("/k", 1); err == nil {
			t.Errorf("error = nil; want the prompt's error")
		}
	})
}

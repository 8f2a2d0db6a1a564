package tasks

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const (
	loginPassword = "s3cr3t-Pa55word"
	loginAddress  = "registry.example.test:5000"
)

// loginTask builds a registry_login task whose password comes from an
// environment variable set for the test.
func loginTask(t *testing.T, config string) Task {
	t.Helper()
	t.Setenv("REGTRUST_TEST_PASSWORD", loginPassword)
	args := fmt.Sprintf("{address: %q, username: ci, password_env: REGTRUST_TEST_PASSWORD, config: %q}", loginAddress, config)
	return buildTask(t, RegistryLoginName, args)
}

// assertNoSecret fails when the password, or the auth value made from
// it, appears in any of texts.
func assertNoSecret(t *testing.T, texts ...string) {
	t.Helper()
	auth := base64.StdEncoding.EncodeToString([]byte("ci:" + loginPassword))
	for _, s := range texts {
		if strings.Contains(s, loginPassword) || strings.Contains(s, auth) {
			t.Errorf("the password appears in %q", s)
		}
	}
}

func TestRegistryLoginWritesAuth(t *testing.T) {
	config := filepath.Join(t.TempDir(), "docker", "config.json")
	task := loginTask(t, config)
	conn := &localConn{}

	res, _ := convergeTask(t, task, nil, conn, false)
	if !res.Changed {
		t.Errorf("check: Changed = false; want true")
	}
	if _, err := os.Stat(config); !os.IsNotExist(err) {
		t.Errorf("check mode created %s (stat error %v)", config, err)
	}
	assertNoSecret(t, res.Message, res.Diff, fmt.Sprintf("%v %+v %#v", task, task, task))
	if want := "auths." + loginAddress + ": <redacted>"; !strings.Contains(res.Diff, want) {
		t.Errorf("diff = %q; want it to contain %q", res.Diff, want)
	}

	res, _ = convergeTask(t, task, nil, conn, true)
	assertNoSecret(t, res.Message, res.Diff)
	data, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Auths map[string]struct{ Auth string } `json:"auths"`
	}
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	decoded, _ := base64.StdEncoding.DecodeString(got.Auths[loginAddress].Auth)
	if string(decoded) != "ci:"+loginPassword {
		t.Errorf("auths[%s].auth decodes to a different login", loginAddress)
	}
	info, _ := os.Stat(config)
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode = %04o; want 0600", info.Mode().Perm())
	}

	res, _ = convergeTask(t, task, nil, conn, true)
	if res.Changed {
		t.Errorf("second run: Changed = true; want false (%s)", res.Message)
	}
}

func TestRegistryLoginMergesConfig(t *testing.T) {
	tests := []struct {
		name     string
		existing string
		mode     os.FileMode
		wantKeys []string
	}{
		{
			name:     "keeps-other-keys-and-logins",
			existing: `{"auths": {"other.example": {"auth": "b3RoZXI6cHc="}}, "HttpHeaders": {"User-Agent": "ci"}, "psFormat": "table"}`,
			mode:     0o600,
			wantKeys: []string{"HttpHeaders", "psFormat", "other.example"},
		},
		{
			name:     "replaces-stale-entry-and-token",
			existing: `{"auths": {"` + loginAddress + `": {"auth": "b2xkOm9sZA==", "identitytoken": "tok"}}}`,
			mode:     0o600,
		},
		{
			name:     "tightens-mode",
			existing: `{"auths": {}}`,
			mode:     0o644,
		},
		{name: "empty-file", existing: "", mode: 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := filepath.Join(t.TempDir(), "config.json")
			if err := os.WriteFile(config, []byte(tt.existing), tt.mode); err != nil {
				t.Fatal(err)
			}
			res, _ := convergeTask(t, loginTask(t, config), nil, &localConn{}, true)
			if !res.Changed {
				t.Errorf("Changed = false; want true")
			}
			data, err := os.ReadFile(config)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range tt.wantKeys {
				if !strings.Contains(string(data), `"`+k+`"`) {
					t.Errorf("config lost %q:\n%s", k, data)
				}
			}
			if strings.Contains(string(data), "identitytoken") {
				t.Errorf("config kept the old identitytoken:\n%s", data)
			}
			info, _ := os.Stat(config)
			if info.Mode().Perm() != 0o600 {
				t.Errorf("mode = %04o; want 0600", info.Mode().Perm())
			}
		})
	}
}

func TestRegistryLoginRejectsConfig(t *testing.T) {
	// The existing file carries another secret, which no error may quote.
	const otherSecret = "T1RIRVItU0VDUkVU"
	tests := []struct {
		name     string
		existing string
		wantErr  string
	}{
		{name: "invalid-json", existing: `{"auths": {"x": {"auth": "` + otherSecret + `"}},`, wantErr: "is not valid JSON (syntax error at byte"},
		{name: "not-an-object", existing: `["` + otherSecret + `"]`, wantErr: "the file is a JSON array, not an object"},
		{name: "creds-store", existing: `{"credsStore": "pass", "auths": {"x": {"auth": "` + otherSecret + `"}}}`, wantErr: `it sets credsStore "pass"`},
		{name: "cred-helper", existing: `{"credHelpers": {"` + loginAddress + `": "ecr-login"}}`, wantErr: `send ` + loginAddress + ` to the credential helper "ecr-login"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			config := filepath.Join(t.TempDir(), "config.json")
			if err := os.WriteFile(config, []byte(tt.existing), 0o600); err != nil {
				t.Fatal(err)
			}
			task := loginTask(t, config)
			tg := NewTarget("node1", nil, &localConn{}, true)
			ctx := context.Background()
			if err := tg.Gather(ctx, task.Probes(tg)); err != nil {
				t.Fatal(err)
			}
			_, err := task.CheckApply(ctx, tg, true)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v; want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), otherSecret) {
				t.Errorf("error quotes the file's content: %v", err)
			}
			assertNoSecret(t, err.Error())
			if got, _ := os.ReadFile(config); string(got) != tt.existing {
				t.Errorf("config changed after a rejection")
			}
		})
	}
}

func TestRegistryLoginArgumentErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("REGTRUST_TEST_PASSWORD", loginPassword)
	os.Unsetenv("REGTRUST_TEST_UNSET")
	tests := []struct {
		name, args, wantErr string
	}{
		{"unset-env", "{address: r.example, username: ci, password_env: REGTRUST_TEST_UNSET}", "the environment variable REGTRUST_TEST_UNSET is not set or empty"},
		{"missing-file", "{address: r.example, username: ci, password_file: /nonexistent/pw}", "password_file: read /nonexistent/pw: no such file or directory"},
		{"empty-file", fmt.Sprintf("{address: r.example, username: ci, password_file: %s}", empty), "password_file: " + empty + " is empty"},
		{"both-sources", "{address: r.example, username: ci, password_env: REGTRUST_TEST_PASSWORD, password_file: x}", "give either password_env or password_file"},
		{"no-source", "{address: r.example, username: ci}", "never from the playbook"},
		{"password-in-playbook", "{address: r.example, username: ci, password: hunter2}", `unknown argument "password"`},
		{"colon-in-username", "{address: r.example, username: \"a:b\", password_env: REGTRUST_TEST_PASSWORD}", `invalid username "a:b"`},
		{"no-registry", "{username: ci, password_env: REGTRUST_TEST_PASSWORD}", "missing argument registry or address"},
		{"relative-config", "{address: r.example, username: ci, password_env: REGTRUST_TEST_PASSWORD, config: x.json}", `invalid config "x.json"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(RegistryLoginName, yamlNode(t, tt.args), &Env{Registries: map[string]*Registry{}, BaseDir: dir})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v; want it to contain %q", err, tt.wantErr)
			}
			assertNoSecret(t, err.Error())
		})
	}
}

func yamlNode(t *testing.T, text string) *yaml.Node {
	t.Helper()
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(text), &node); err != nil {
		t.Fatal(err)
	}
	return node.Content[0]
}

package tasks

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/regtrust/regtrust/internal/secret"
	"io/fs"
	"os"
	"path"
	"strings"

	"gopkg.in/yaml.v3"
)

// RegistryLoginName is the task that stores a registry login in a Docker
// client config.
const RegistryLoginName = "registry_login"

// defaultDockerConfig is the client config of root, which dockerd's
// clients such as docker pull and docker compose read when run as root.
const defaultDockerConfig = "/root/.docker/config.json"

// redacted stands for a secret in every output.
const redacted = "<redacted>"

// registryLogin writes {"auths": {ADDRESS: {"auth": base64(user:password)}}}
// into a Docker client config, the entry "docker login" writes when no
// credential helper is set. Every other key of the file is kept. The
// password comes from an environment variable or a file on the controller,
// never from the playbook, and it appears in no message, diff or report.
type registryLogin struct {
	address  string
	username string
	password secret.Value
	config   string
	// source names where the password came from, for messages.
	source string
}

type registryLoginArgs struct {
	Registry     string `yaml:"registry"`
	Address      string `yaml:"address"`
	Username     string `yaml:"username"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	Config       string `yaml:"config"`
}

func newRegistryLogin(args *yaml.Node, env *Env) (Task, error) {
	var a registryLoginArgs
	if err := decodeArgs(args, &a, "registry", "address", "username", "password_env", "password_file", "config"); err != nil {
		return nil, err
	}
	l := &registryLogin{username: a.Username, config: a.Config}
	switch {
	case a.Registry != "" && a.Address != "":
		return nil, at(args, errors.New("give either registry or address, not both"))
	case a.Registry != "":
		r, err := lookupRegistry(args, env, a.Registry)
		if err != nil {
			return nil, err
		}
		l.address = r.Address
	case a.Address != "":
		if err := ValidateAddress(a.Address); err != nil {
			return nil, at(args, err)
		}
		l.address = a.Address
	default:
		return nil, at(args, errors.New("missing argument registry or address: name the registry to log in to"))
	}
	if a.Username == "" {
		return nil, at(args, errors.New("missing argument username"))
	}
	if strings.ContainsAny(a.Username, ":\n\r") {
		return nil, at(args, fmt.Errorf("invalid username %q: a Docker login cannot contain ':' or a line break", a.Username))
	}
	if a.Config != "" && (!path.IsAbs(a.Config) || path.Clean(a.Config) != a.Config) {
		return nil, at(args, fmt.Errorf("invalid config %q: give an absolute, clean path on the host such as %s", a.Config, defaultDockerConfig))
	}
	password, source, err := readPassword(a, env)
	if err != nil {
		return nil, at(args, err)
	}
	l.password, l.source = password, source
	return l, nil
}

// readPassword reads the password from the environment variable or the
// file the arguments name. Errors name the variable or file, never the
// value.
func readPassword(a registryLoginArgs, env *Env) (secret.Value, string, error) {
	switch {
	case a.PasswordEnv != "" && a.PasswordFile != "":
		return secret.Value{}, "", errors.New("give either password_env or password_file, not both")
	case a.PasswordEnv != "":
		v, ok := os.LookupEnv(a.PasswordEnv)
		if !ok || v == "" {
			return secret.Value{}, "", fmt.Errorf("password_env: the environment variable %s is not set or empty; export it before running regtrust", a.PasswordEnv)
		}
		return secret.New(v), "environment variable " + a.PasswordEnv, nil
	case a.PasswordFile != "":
		file := ResolvePath(env.BaseDir, a.PasswordFile)
		data, err := os.ReadFile(file)
		if err != nil {
			var pathErr *fs.PathError
			if errors.As(err, &pathErr) {
				err = pathErr.Err
			}
			return secret.Value{}, "", fmt.Errorf("password_file: read %s: %w", file, err)
		}
		v := strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")
		if v == "" {
			return secret.Value{}, "", fmt.Errorf("password_file: %s is empty; write the password into it", file)
		}
		return secret.New(v), "file " + file, nil
	}
	return secret.Value{}, "", errors.New("missing argument password_env or password_file: the password is read from the controller's environment or a file, never from the playbook")
}

func (l *registryLogin) configPath(t *Target) (string, error) {
	if l.config != "" {
		return l.config, nil
	}
	p, err := t.Var("docker_config_json", defaultDockerConfig)
	if err != nil {
		return "", err
	}
	if !path.IsAbs(p) || path.Clean(p) != p {
		return "", fmt.Errorf("host variable docker_config_json=%q must be an absolute, clean path such as %s", p, defaultDockerConfig)
	}
	return p, nil
}

func (l *registryLogin) Probes(t *Target) []Probe {
	p, err := l.configPath(t)
	if err != nil {
		return nil
	}
	return []Probe{{Path: p, Content: true}}
}

// CheckApply compares the stored login with the wanted one. The file's
// content is secret, so no error or message quotes any part of it.
func (l *registryLogin) CheckApply(ctx context.Context, t *Target, apply bool) (Result, error) {
	p, err := l.configPath(t)
	if err != nil {
		return Result{}, err
	}
	st, err := t.File(p)
	if err != nil {
		return Result{}, err
	}
	if st.IsDir {
		return Result{}, fmt.Errorf("%s is a folder; give the Docker client config file", p)
	}
	if st.Exists && !st.ContentRead {
		return Result{}, fmt.Errorf("%s is larger than %d bytes; regtrust does not edit it", p, maxContent)
	}
	auth := base64.StdEncoding.EncodeToString([]byte(l.username + ":" + l.password.Reveal()))
	out, changed, err := setAuth(st.Content, l.address, auth)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w; regtrust left it unchanged", p, err)
	}
	if !changed && st.Mode.Perm() == 0o600 {
		return Result{Message: fmt.Sprintf("up to date: login of %s for %s in %s", l.username, l.address, p)}, nil
	}
	verb := "replace"
	if !st.Exists {
		verb = "create"
	}
	diff := fmt.Sprintf("%s %s (mode 0600)\n    auths.%s: %s", verb, p, l.address, redacted)
	if !changed {
		diff = fmt.Sprintf("change mode of %s from %04o to 0600", p, st.Mode.Perm())
	}
	t.WriteFile(p, out, 0o600)
	return Result{
		Changed: true,
		Message: fmt.Sprintf("set login of %s for %s in %s (password from %s)", l.username, l.address, p, l.source),
		Diff:    diff,
	}, nil
}

// setAuth returns the client config orig with auths[address] set to
// {"auth": auth}, and whether that changed it. Every other key is kept,
// though not its formatting or key order: the file is rewritten indented
// with tabs and keys sorted. Errors never quote the content.
func setAuth(orig []byte, address, auth string) ([]byte, bool, error) {
	config := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(orig)) > 0 {
		if err := json.Unmarshal(orig, &config); err != nil {
			return nil, false, describeJSONError(err, "the file")
		}
	}
	if err := checkCredentialHelpers(config, address); err != nil {
		return nil, false, err
	}
	auths := map[string]json.RawMessage{}
	if raw, ok := config["auths"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &auths); err != nil {
			return nil, false, describeJSONError(err, "auths")
		}
	}
	var entry struct {
		Auth string `json:"auth"`
	}
	if raw, ok := auths[address]; ok {
		fields := map[string]json.RawMessage{}
		if err := json.Unmarshal(raw, &fields); err != nil {
			return nil, false, describeJSONError(err, "auths."+address)
		}
		// An entry with more than auth, such as an identitytoken, is
		// replaced, because docker would use the token instead.
		if json.Unmarshal(raw, &entry) == nil && entry.Auth == auth && len(fields) == 1 {
			return orig, false, nil
		}
	}
	entry.Auth = auth
	rawEntry, err := json.Marshal(entry)
	if err != nil {
		return nil, false, err
	}
	auths[address] = rawEntry
	if config["auths"], err = json.Marshal(auths); err != nil {
		return nil, false, err
	}
	out, err := json.MarshalIndent(config, "", "\t")
	if err != nil {
		return nil, false, err
	}
	return append(out, '\n'), true, nil
}

// checkCredentialHelpers rejects a config whose credential store or
// helper docker would ask instead of reading auths.
func checkCredentialHelpers(config map[string]json.RawMessage, address string) error {
	var store string
	if raw, ok := config["credsStore"]; ok && json.Unmarshal(raw, &store) == nil && store != "" {
		return fmt.Errorf("it sets credsStore %q, so docker reads logins from that credential helper and ignores auths; log in with docker login on the host, or remove credsStore", store)
	}
	helpers := map[string]string{}
	if raw, ok := config["credHelpers"]; ok && json.Unmarshal(raw, &helpers) == nil {
		if h := helpers[address]; h != "" {
			return fmt.Errorf("its credHelpers send %s to the credential helper %q, so docker ignores auths for it; log in with docker login on the host, or remove that entry", address, h)
		}
	}
	return nil
}

// describeJSONError explains why part of a client config is not the JSON
// expected, giving only offsets and types, never content.
func describeJSONError(err error, what string) error {
	var syntax *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fmt.Errorf("%s is not valid JSON (syntax error at byte %d); fix or remove it", what, syntax.Offset)
	case errors.As(err, &typeErr):
		return fmt.Errorf("%s is a JSON %s, not an object; fix or remove it", what, typeErr.Value)
	}
	return fmt.Errorf("%s is not a JSON object; fix or remove it", what)
}

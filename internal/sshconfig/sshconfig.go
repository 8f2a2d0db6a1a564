// Package sshconfig reads the OpenSSH client configuration (ssh_config)
// settings that decide how regtrust reaches a host: HostName, Port,
// User, IdentityFile, ProxyJump and ConnectTimeout.
//
// Lookups follow OpenSSH: Host blocks are checked in file order, a
// block applies when one of its patterns matches the name and none of
// its negated patterns does, and the first value found for a keyword
// wins, except for IdentityFile, whose values all apply in order.
// Include is followed. Match blocks other than "Match host" and
// "Match all" are rejected when the file is loaded.
package sshconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	sshconfig "github.com/kevinburke/ssh_config"
)

// None is the --ssh-config value that turns ssh config files off, as
// `ssh -F none` does.
const None = "none"

// File is a loaded ssh config file. The zero value and a nil *File
// have no settings.
type File struct {
	path   string
	config *sshconfig.Config
}

// Settings are the settings that a File gives for one host name. A zero
// field means the file does not set it.
type Settings struct {
	HostName string
	Port     int
	User     string
	// IdentityFiles are the IdentityFile values with ~ and the %
	// tokens expanded, in file order.
	IdentityFiles []string
	// ProxyJump is the parsed ProxyJump value. It is nil when the file
	// sets no ProxyJump or sets "none".
	ProxyJump      []Jump
	ConnectTimeout time.Duration
}

// Load parses the ssh config file at path. A missing file is an error,
// because the caller named it.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read ssh config: %w", err)
	}
	config, err := sshconfig.DecodeBytes(data)
	if err != nil {
		return nil, fmt.Errorf("parse ssh config %s: %w; fix the file or pass --ssh-config none", path, err)
	}
	return &File{path: path, config: config}, nil
}

// LoadDefault parses ~/.ssh/config, and returns a nil *File without an
// error when that file does not exist. Like OpenSSH's -F option, a
// named file replaces it, so regtrust never reads /etc/ssh/ssh_config.
func LoadDefault() (*File, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil, nil
	}
	path := filepath.Join(home, ".ssh", "config")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return Load(path)
}

// Path returns the file's path, or "" for a nil File.
func (f *File) Path() string {
	if f == nil {
		return ""
	}
	return f.path
}

// Lookup returns the settings for the host name alias, the name given
// on the ssh command line. Port and User are those of the file; the
// tokens %p and %r in IdentityFile use port and user when the file sets
// neither, so the caller passes the values it will connect with.
func (f *File) Lookup(alias string, port int, remoteUser string) (Settings, error) {
	var s Settings
	if f == nil || f.config == nil {
		return s, nil
	}
	get := func(key string) (string, error) {
		v, err := f.config.Get(alias, key)
		if err != nil {
			return "", fmt.Errorf("read %s for host %s from ssh config %s: %w", key, alias, f.path, err)
		}
		return strings.TrimSpace(v), nil
	}
	invalid := func(key, value, want string) error {
		return fmt.Errorf("invalid %s %q for host %s in ssh config %s: want %s", key, value, alias, f.path, want)
	}

	if v, err := get("ProxyCommand"); err != nil {
		return s, err
	} else if v != "" && !strings.EqualFold(v, "none") {
		return s, fmt.Errorf("host %s: ssh config %s sets ProxyCommand, which regtrust does not run; use ProxyJump instead", alias, f.path)
	}

	hostName, err := get("HostName")
	if err != nil {
		return s, err
	}
	if hostName != "" {
		if s.HostName, err = expandTokens(hostName, tokens{'h': alias}); err != nil {
			return s, fmt.Errorf("host %s: HostName in ssh config %s: %w", alias, f.path, err)
		}
	}

	if v, err := get("Port"); err != nil {
		return s, err
	} else if v != "" {
		p, convErr := strconv.Atoi(v)
		if convErr != nil || p < 1 || p > 65535 {
			return s, invalid("Port", v, "a port from 1 to 65535")
		}
		s.Port = p
	}

	if s.User, err = get("User"); err != nil {
		return s, err
	}

	if v, err := get("ConnectTimeout"); err != nil {
		return s, err
	} else if v != "" && !strings.EqualFold(v, "none") {
		secs, convErr := strconv.Atoi(v)
		if convErr != nil || secs < 1 {
			return s, invalid("ConnectTimeout", v, "a whole number of seconds, 1 or more")
		}
		s.ConnectTimeout = time.Duration(secs) * time.Second
	}

	if v, err := get("ProxyJump"); err != nil {
		return s, err
	} else if v != "" && !strings.EqualFold(v, "none") {
		if s.ProxyJump, err = ParseProxyJump(v); err != nil {
			return s, fmt.Errorf("host %s: ProxyJump in ssh config %s: %w", alias, f.path, err)
		}
	}

	files, err := f.config.GetAll(alias, "IdentityFile")
	if err != nil {
		return s, fmt.Errorf("read IdentityFile for host %s from ssh config %s: %w", alias, f.path, err)
	}
	if port == 0 {
		port = 22
	}
	identityTokens := tokens{
		'h': s.HostName,
		'n': alias,
		'p': strconv.Itoa(port),
		'r': remoteUser,
	}
	if identityTokens['h'] == "" {
		identityTokens['h'] = alias
	}
	if s.Port != 0 {
		identityTokens['p'] = strconv.Itoa(s.Port)
	}
	if s.User != "" {
		identityTokens['r'] = s.User
	}
	for _, file := range files {
		file = strings.TrimSpace(file)
		if file == "" || strings.EqualFold(file, "none") {
			continue
		}
		expanded, err := expandPath(file, identityTokens)
		if err != nil {
			return s, fmt.Errorf("host %s: IdentityFile %q in ssh config %s: %w", alias, file, f.path, err)
		}
		s.IdentityFiles = append(s.IdentityFiles, expanded)
	}
	return s, nil
}

// tokens maps the letter of a % token to its value.
type tokens map[byte]string

// expandTokens replaces %% and the tokens in t, and rejects any other
// token, so that a value is never used with a token left in it.
func expandTokens(s string, t tokens) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("invalid %q: it ends in a lone %%", s)
		}
		i++
		if s[i] == '%' {
			b.WriteByte('%')
			continue
		}
		v, ok := t[s[i]]
		if !ok {
			return "", fmt.Errorf("invalid %q: regtrust does not expand %%%c here", s, s[i])
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// expandPath expands the tokens of a file path, adding the local ones
// (%d, %u, %l, %i), and a leading ~.
func expandPath(path string, t tokens) (string, error) {
	local := tokens{}
	for k, v := range t {
		local[k] = v
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find home folder: %w", err)
	}
	local['d'] = home
	if u, err := user.Current(); err == nil {
		local['u'] = u.Username
		local['i'] = u.Uid
	}
	if host, err := os.Hostname(); err == nil {
		local['l'] = host
	}
	expanded, err := expandTokens(path, local)
	if err != nil {
		return "", err
	}
	if expanded == "~" {
		return home, nil
	}
	if strings.HasPrefix(expanded, "~/") {
		return filepath.Join(home, expanded[2:]), nil
	}
	return expanded, nil
}

package playbook

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"

	"github.com/regtrust/regtrust/internal/sshconfig"
	"github.com/regtrust/regtrust/internal/sshx"
	"github.com/regtrust/regtrust/inventory"
	"github.com/regtrust/regtrust/tasks"
)

// sshConfig builds the SSH settings of the host name from its inventory
// connection and the ssh config, the way Ansible's ssh connection does:
//
//   - The ssh config is looked up for ansible_host, or the inventory name
//     when that is unset, because that is the name Ansible passes to ssh.
//     So a HostName there still applies.
//   - ansible_port and ansible_user win over Port and User there.
//   - The inventory's key file, else --private-key, comes first, then
//     the IdentityFiles there; with none of them the usual default keys
//     are tried. ssh-agent is always used.
//   - --connect-timeout, when given, wins over ConnectTimeout there.
//   - ProxyJump there adds the jump hosts, each looked up in the ssh
//     config too.
func sshConfig(name string, conn inventory.Connection, opts *Options, known []string) (sshx.Config, error) {
	alias := conn.Address
	settings, err := opts.SSHConfig.Lookup(alias, conn.Port, conn.User)
	if err != nil {
		return sshx.Config{}, fmt.Errorf("host %s: %w", name, err)
	}
	cfg := sshx.Config{
		Host:              firstNonEmpty(settings.HostName, alias),
		Port:              conn.Port,
		User:              conn.User,
		KnownHostsFiles:   known,
		AcceptNewHostKeys: opts.AcceptNewHostKeys,
		ConnectTimeout:    firstNonZero(opts.ConnectTimeout, settings.ConnectTimeout),
		UseAgent:          true,
		Keys:              opts.Keys,
		Password:          conn.Password,
		ConnectRetries:    opts.ConnectRetries,
	}
	if !conn.Set.Port && settings.Port != 0 {
		cfg.Port = settings.Port
	}
	if !conn.Set.User && settings.User != "" {
		cfg.User = settings.User
	}
	if !cfg.Password.IsSet() {
		cfg.Password = opts.Password
	}

	key := conn.IdentityFile
	if key == "" {
		key = opts.PrivateKey
	}
	if key != "" {
		if err := checkReadable(key); err != nil {
			return sshx.Config{}, fmt.Errorf("host %s: private key: %w; fix ansible_ssh_private_key_file or --private-key", name, err)
		}
		cfg.IdentityFiles = []string{key}
	}
	cfg.IdentityFiles = append(cfg.IdentityFiles, readableFiles(settings.IdentityFiles)...)
	if len(cfg.IdentityFiles) == 0 {
		cfg.IdentityFiles = defaultIdentityFiles()
	}

	if len(settings.ProxyJump) > 0 {
		jumps, err := jumpChain(settings.ProxyJump, opts, known, []string{alias})
		if err != nil {
			return sshx.Config{}, fmt.Errorf("host %s: %w", name, err)
		}
		cfg.Jumps = jumps
	}
	return cfg, nil
}

// jumpChain turns a ProxyJump list into the hops to dial, first hop
// first. As in OpenSSH, the first hop's own ProxyJump in the ssh config
// applies too, so its jump hosts come before it; the later hops are
// reached through the hop before them, whatever the ssh config says
// about them. path lists the names already on the way, to catch loops.
func jumpChain(jumps []sshconfig.Jump, opts *Options, known []string, path []string) ([]sshx.Config, error) {
	var chain []sshx.Config
	for i, j := range jumps {
		settings, err := opts.SSHConfig.Lookup(j.Host, j.Port, j.User)
		if err != nil {
			return nil, fmt.Errorf("jump host %s: %w", j, err)
		}
		if i == 0 && len(settings.ProxyJump) > 0 {
			for _, seen := range path {
				if seen == j.Host {
					return nil, fmt.Errorf("invalid ProxyJump: the jump hosts form a loop: %s -> %s", strings.Join(path, " -> "), j.Host)
				}
			}
			before, err := jumpChain(settings.ProxyJump, opts, known, append(path, j.Host))
			if err != nil {
				return nil, err
			}
			chain = append(chain, before...)
		}
		hop, err := jumpConfig(j, settings, opts, known)
		if err != nil {
			return nil, err
		}
		chain = append(chain, hop)
		if len(chain) > sshx.MaxJumps {
			return nil, fmt.Errorf("invalid ProxyJump: more than %d jump hosts in front of %s; check the ssh config for a loop", sshx.MaxJumps, path[0])
		}
	}
	return chain, nil
}

// jumpConfig builds the settings of one jump host. A user or port in the
// ProxyJump value wins over the ssh config. Jump hosts use the ssh
// config's keys, else --private-key, else the default keys, and the
// agent, but no password: inventory passwords belong to inventory hosts.
func jumpConfig(j sshconfig.Jump, settings sshconfig.Settings, opts *Options, known []string) (sshx.Config, error) {
	hop := sshx.Config{
		Host:              firstNonEmpty(settings.HostName, j.Host),
		Port:              firstNonZero(j.Port, settings.Port),
		User:              firstNonEmpty(j.User, settings.User),
		KnownHostsFiles:   known,
		AcceptNewHostKeys: opts.AcceptNewHostKeys,
		ConnectTimeout:    firstNonZero(opts.ConnectTimeout, settings.ConnectTimeout),
		UseAgent:          true,
		Keys:              opts.Keys,
		IdentityFiles:     readableFiles(settings.IdentityFiles),
	}
	if hop.User == "" {
		current, err := user.Current()
		if err != nil {
			return sshx.Config{}, fmt.Errorf("jump host %s: look up the current user for the default SSH user: %w; set a user in ProxyJump", j, err)
		}
		hop.User = current.Username
	}
	if len(hop.IdentityFiles) == 0 && opts.PrivateKey != "" {
		hop.IdentityFiles = []string{opts.PrivateKey}
	}
	if len(hop.IdentityFiles) == 0 {
		hop.IdentityFiles = defaultIdentityFiles()
	}
	return hop, nil
}

// becomeFor decides whether and as whom the host's commands run through
// sudo. Host variables win over play keywords, as in Ansible. Every play
// of a host shares one connection and one gather, so the plays that
// select a host must agree on become_user.
func becomeFor(name string, conn inventory.Connection, plays []*Play, opts *Options) (tasks.Become, error) {
	become := conn.Become
	user := ""
	if conn.Set.BecomeUser {
		user = conn.BecomeUser
	}
	for _, p := range plays {
		if !conn.Set.Become && p.Become {
			become = true
		}
		if conn.Set.BecomeUser || p.BecomeUser == "" {
			continue
		}
		if user != "" && user != p.BecomeUser {
			return tasks.Become{}, fmt.Errorf("host %s: plays ask for become_user %q and %q; regtrust runs all plays of a host as one user, so set ansible_become_user for the host or make the plays agree",
				name, user, p.BecomeUser)
		}
		user = p.BecomeUser
	}
	if !become {
		return tasks.Become{}, nil
	}
	b := tasks.Become{User: firstNonEmpty(user, "root"), Password: conn.BecomePassword}
	if !b.Password.IsSet() {
		b.Password = opts.BecomePassword
	}
	return b, nil
}

// defaultIdentityFiles returns the usual default keys that exist, as ssh
// tries them when no IdentityFile is set.
func defaultIdentityFiles() []string {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil
	}
	var files []string
	for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		p := filepath.Join(home, ".ssh", name)
		if checkReadable(p) == nil {
			files = append(files, p)
		}
	}
	return files
}

// readableFiles returns the files that can be read. ssh skips an
// IdentityFile from its config that does not exist, and so does regtrust.
func readableFiles(files []string) []string {
	var out []string
	for _, f := range files {
		if checkReadable(f) == nil {
			out = append(out, f)
		}
	}
	return out
}

func checkReadable(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	return f.Close()
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}

func firstNonZero[T comparable](values ...T) T {
	var zero T
	for _, v := range values {
		if v != zero {
			return v
		}
	}
	return zero
}

package inventory

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/regtrust/regtrust/internal/secret"
)

// Connection contains the SSH settings of a host.
type Connection struct {
	Address      string // ansible_host; default the host's inventory name
	Port         int    // ansible_port; default 22
	User         string // ansible_user; default the current OS user, as ssh does
	IdentityFile string // ansible_ssh_private_key_file with ~ expanded; "" when unset
	Become       bool   // ansible_become; default false
	BecomeUser   string // ansible_become_user; default root
	BecomeMethod string // ansible_become_method; sudo, the default, is the only one supported

	// Password is ansible_password (or ansible_ssh_pass), the SSH login
	// password; unset when empty.
	Password secret.Value
	// BecomePassword is ansible_become_password (or ansible_become_pass),
	// the sudo password; unset when empty.
	BecomePassword secret.Value

	// Set records which settings the inventory gives, so that an ssh
	// config or a play keyword may supply the others.
	Set ConnectionSet
}

// ConnectionSet marks the Connection settings that come from inventory
// variables rather than from defaults.
type ConnectionSet struct {
	Port, User, Become, BecomeUser bool
}

// Connection reads the host's SSH settings from its variables.
//
// Where Ansible's ssh connection plugin accepts two variables for one
// setting, the later one in its list wins when both are set:
// ansible_ssh_host over ansible_host, ansible_ssh_port over ansible_port,
// ansible_ssh_user over ansible_user, and ansible_ssh_private_key_file
// over ansible_private_key_file. A null variable counts as unset, as in
// Ansible.
//
// Errors name the host, the variable, the value and the fix. Settings
// that Connection cannot express are errors too: Jinja2 templates,
// vault-encrypted strings, an ansible_connection other than ssh and ssh
// arguments that set a jump host. Without them, regtrust would reach a
// host differently from Ansible.
func (h *Host) Connection() (Connection, error) {
	c := Connection{Address: h.Name, Port: 22, BecomeUser: "root", BecomeMethod: "sudo"}

	if name, v, ok := h.lastSet("ansible_connection"); ok {
		kind, err := h.settingString(name, v)
		if err != nil {
			return Connection{}, err
		}
		switch kind {
		case "", "ssh", "smart", "paramiko", "paramiko_ssh":
		default:
			return Connection{}, fmt.Errorf("host %s: invalid %s %q: regtrust connects only over SSH; remove the variable or set it to ssh",
				h.Name, name, kind)
		}
	}

	if err := h.checkProxy(); err != nil {
		return Connection{}, err
	}

	if name, v, ok := h.lastSet("ansible_host", "ansible_ssh_host"); ok {
		address, err := h.settingString(name, v)
		if err != nil {
			return Connection{}, err
		}
		if address != "" {
			c.Address = address
		}
	}

	if name, v, ok := h.lastSet("ansible_port", "ansible_ssh_port"); ok {
		port, err := h.port(name, v)
		if err != nil {
			return Connection{}, err
		}
		c.Port = port
		c.Set.Port = true
	}

	if name, v, ok := h.lastSet("ansible_user", "ansible_ssh_user"); ok {
		u, err := h.settingString(name, v)
		if err != nil {
			return Connection{}, err
		}
		c.User = u
		c.Set.User = u != ""
	}
	if c.User == "" {
		current, err := user.Current()
		if err != nil {
			return Connection{}, fmt.Errorf("host %s: look up the current user for the default SSH user: %w; set ansible_user", h.Name, err)
		}
		c.User = current.Username
	}

	if name, v, ok := h.lastSet("ansible_private_key_file", "ansible_ssh_private_key_file"); ok {
		path, err := h.settingString(name, v)
		if err != nil {
			return Connection{}, err
		}
		if c.IdentityFile, err = expandHome(path); err != nil {
			return Connection{}, fmt.Errorf("host %s: invalid %s %q: %w", h.Name, name, path, err)
		}
	}

	if err := h.become(&c); err != nil {
		return Connection{}, err
	}
	var err error
	// The variable lists and their order are those of Ansible's ssh
	// connection plugin and sudo become plugin: the later name wins.
	if c.Password, err = h.secretSetting("ansible_password", "ansible_ssh_pass", "ansible_ssh_password"); err != nil {
		return Connection{}, err
	}
	if c.BecomePassword, err = h.secretSetting("ansible_become_password", "ansible_become_pass", "ansible_sudo_pass"); err != nil {
		return Connection{}, err
	}
	return c, nil
}

// secretSetting reads a password variable. Its errors never contain the
// value.
func (h *Host) secretSetting(names ...string) (secret.Value, error) {
	name, v, ok := h.lastSet(names...)
	if !ok {
		return secret.Value{}, nil
	}
	s, isScalar := scalarString(v)
	switch {
	case !isScalar:
		return secret.Value{}, fmt.Errorf("host %s: invalid %s: got %s, want a string", h.Name, name, typeName(v))
	case strings.HasPrefix(s, "$ANSIBLE_VAULT;"):
		return secret.Value{}, fmt.Errorf("host %s: invalid %s: it is encrypted with Ansible Vault, which regtrust cannot decrypt; pass the password with a --*-password-file or --*-password-env option instead",
			h.Name, name)
	case strings.Contains(s, "{{") || strings.Contains(s, "{%"):
		return secret.Value{}, fmt.Errorf("host %s: invalid %s: it is a Jinja2 template, which regtrust does not evaluate; pass the password with a --*-password-file or --*-password-env option instead",
			h.Name, name)
	}
	return secret.New(s), nil
}

func (h *Host) become(c *Connection) error {
	if name, v, ok := h.lastSet("ansible_become"); ok {
		b, err := boolValue(v)
		if err != nil {
			return fmt.Errorf("host %s: invalid %s: %w", h.Name, name, err)
		}
		c.Become = b
		c.Set.Become = true
	}
	if name, v, ok := h.lastSet("ansible_become_user"); ok {
		u, err := h.settingString(name, v)
		if err != nil {
			return err
		}
		if u != "" {
			c.BecomeUser = u
			c.Set.BecomeUser = true
		}
	}
	if name, v, ok := h.lastSet("ansible_become_method"); ok {
		method, err := h.settingString(name, v)
		if err != nil {
			return err
		}
		if method != "" && method != "sudo" {
			return fmt.Errorf("host %s: invalid %s %q: regtrust supports only sudo; remove the variable or set it to sudo",
				h.Name, name, method)
		}
	}
	return nil
}

// checkProxy returns an error when extra ssh arguments send the
// connection through a jump host, because Connection has no field for
// one and connecting directly would reach a different network path.
// Other extra arguments, such as -o StrictHostKeyChecking=no, are
// ignored.
func (h *Host) checkProxy() error {
	for _, name := range []string{"ansible_ssh_common_args", "ansible_ssh_extra_args", "ansible_ssh_args"} {
		s, ok := h.Vars[name].(string)
		if !ok {
			continue
		}
		lower := strings.ToLower(s)
		for _, option := range []string{"proxyjump", "proxycommand", "-j "} {
			if strings.Contains(lower, option) || strings.HasSuffix(lower, "-j") {
				return fmt.Errorf("host %s: %s sets a jump host (ProxyJump, ProxyCommand or -J), which regtrust does not support: make the host reachable directly or remove the option",
					h.Name, name)
			}
		}
	}
	return nil
}

// lastSet returns the last of the named variables that is set and not
// null.
func (h *Host) lastSet(names ...string) (name string, value any, ok bool) {
	for _, n := range names {
		if v, set := h.Vars[n]; set && v != nil {
			name, value, ok = n, v, true
		}
	}
	return name, value, ok
}

// settingString reads a connection setting as text.
func (h *Host) settingString(name string, v any) (string, error) {
	s, ok := scalarString(v)
	if !ok {
		return "", fmt.Errorf("host %s: invalid %s: got %s, want a string", h.Name, name, typeName(v))
	}
	if strings.HasPrefix(s, "$ANSIBLE_VAULT;") {
		return "", fmt.Errorf("host %s: invalid %s: it is encrypted with Ansible Vault, which regtrust cannot decrypt; write the value out",
			h.Name, name)
	}
	if strings.Contains(s, "{{") || strings.Contains(s, "{%") {
		return "", fmt.Errorf("host %s: invalid %s %q: it is a Jinja2 template, which regtrust does not evaluate; write the value out",
			h.Name, name, s)
	}
	return strings.TrimSpace(s), nil
}

func (h *Host) port(name string, v any) (int, error) {
	port, ok := intValue(v)
	if !ok {
		return 0, fmt.Errorf("host %s: invalid %s %s: not a number; set a port from 1 to 65535", h.Name, name, describeValue(v))
	}
	if port < 1 || port > 65535 {
		return 0, fmt.Errorf("host %s: invalid %s %d: out of range; set a port from 1 to 65535", h.Name, name, port)
	}
	return port, nil
}

// describeValue shows a scalar for an error message, quoting strings,
// and names the type of a list or mapping instead of printing it.
func describeValue(v any) string {
	if v == nil {
		return "null"
	}
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	if s, ok := scalarString(v); ok {
		return s
	}
	return typeName(v)
}

// expandHome replaces a leading ~ or ~user with that user's home
// folder, as a shell would.
func expandHome(path string) (string, error) {
	if !strings.HasPrefix(path, "~") {
		return path, nil
	}
	name, rest, _ := strings.Cut(path[1:], "/")
	var home string
	if name == "" {
		dir, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		home = dir
	} else {
		u, err := user.Lookup(name)
		if err != nil {
			return "", err
		}
		home = u.HomeDir
	}
	if rest == "" {
		return home, nil
	}
	return filepath.Join(home, rest), nil
}

package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"
)

// Inventory groups the lab always writes, besides those in
// Options.Groups.
const (
	// GroupAll is the parent group that carries every host's variables.
	GroupAll = "docker_hosts"
	// GroupDockerd holds the hosts that run dockerd.
	GroupDockerd = "dockerd_hosts"
	// GroupSSHOnly holds the hosts that run only sshd.
	GroupSSHOnly = "sshd_only_hosts"
)

// defaultGroups puts odd-numbered hosts in certsd and even-numbered
// ones in systrust, so a lab of two or more hosts exercises both ways
// of trusting the registry.
func defaultGroups(hosts int) map[string][]string {
	groups := map[string][]string{"certsd": nil, "systrust": nil}
	for i := 1; i <= hosts; i++ {
		name := fmt.Sprintf("node%d", i)
		if i%2 == 1 {
			groups["certsd"] = append(groups["certsd"], name)
		} else {
			groups["systrust"] = append(groups["systrust"], name)
		}
	}
	return groups
}

// hostIndex returns the zero-based index of "nodeN" among hosts, or -1.
func hostIndex(name string, hosts int) int {
	n, err := strconv.Atoi(strings.TrimPrefix(name, "node"))
	if !strings.HasPrefix(name, "node") || err != nil || n < 1 || n > hosts || name != fmt.Sprintf("node%d", n) {
		return -1
	}
	return n - 1
}

// hostVars are a host's connection variables, named as Ansible names
// them, plus docker_restart_command and, on hosts that run dockerd,
// docker_log_file.
type hostVars struct {
	AnsibleHost           string `yaml:"ansible_host,omitempty"`
	AnsiblePort           int    `yaml:"ansible_port,omitempty"`
	AnsibleUser           string `yaml:"ansible_user"`
	AnsibleBecome         bool   `yaml:"ansible_become,omitempty"`
	AnsiblePrivateKeyFile string `yaml:"ansible_ssh_private_key_file"`
	DockerRestartCommand  string `yaml:"docker_restart_command"`
	DockerLogFile         string `yaml:"docker_log_file,omitempty"`
}

type inventoryGroup struct {
	Hosts map[string]any `yaml:"hosts"`
}

type inventoryFile struct {
	All struct {
		Children map[string]inventoryGroup `yaml:"children"`
	} `yaml:"all"`
}

// renderInventory returns the Ansible-style YAML inventory. Every host
// and its variables sit under GroupAll; the other groups list names
// only, each mapped to an empty mapping. Hidden hosts get no address or
// port, which the ssh config supplies. With sudoUser the hosts log in as
// that user and become root.
func renderInventory(hosts []*Host, privateKey string, groups map[string][]string, sudoUser string) ([]byte, error) {
	var inv inventoryFile
	inv.All.Children = map[string]inventoryGroup{}
	add := func(group, name string, vars any) {
		g, ok := inv.All.Children[group]
		if !ok {
			g = inventoryGroup{Hosts: map[string]any{}}
			inv.All.Children[group] = g
		}
		g.Hosts[name] = vars
	}
	for _, h := range hosts {
		vars := hostVars{
			AnsibleHost:           "127.0.0.1",
			AnsiblePort:           h.Port,
			AnsibleUser:           "root",
			AnsiblePrivateKeyFile: privateKey,
			DockerRestartCommand:  h.RestartCommand,
		}
		if h.Hidden {
			vars.AnsibleHost, vars.AnsiblePort = "", 0
		}
		if sudoUser != "" {
			vars.AnsibleUser, vars.AnsibleBecome = sudoUser, true
		}
		if h.Dockerd {
			vars.DockerLogFile = DockerdLog
		}
		add(GroupAll, h.Name, vars)
		if h.Dockerd {
			add(GroupDockerd, h.Name, map[string]any{})
		} else {
			add(GroupSSHOnly, h.Name, map[string]any{})
		}
	}
	for group, names := range groups {
		if _, ok := inv.All.Children[group]; !ok {
			inv.All.Children[group] = inventoryGroup{Hosts: map[string]any{}}
		}
		for _, name := range names {
			add(group, name, map[string]any{})
		}
	}
	b, err := yaml.Marshal(&inv)
	if err != nil {
		return nil, fmt.Errorf("encode inventory: %w", err)
	}
	return b, nil
}

// renderKnownHosts returns one known_hosts line per host, in the form
// OpenSSH uses for a non-default port: "[ADDRESS]:PORT KEY".
func renderKnownHosts(hosts []*Host) []byte {
	lines := make([]string, 0, len(hosts))
	for _, h := range hosts {
		addr := "[" + h.Address + "]:" + strconv.Itoa(h.Port)
		key := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(h.hostKey.signer.PublicKey())))
		lines = append(lines, addr+" "+key)
	}
	sort.Strings(lines)
	return []byte(strings.Join(lines, "\n") + "\n")
}

// writeClientFiles writes the known_hosts file and the inventory into
// the lab folder.
func (l *Lab) writeClientFiles() error {
	known := l.Hosts
	if l.Bastion != nil {
		known = append(slices.Clone(known), l.Bastion)
		l.SSHConfig = filepath.Join(l.Dir, "ssh_config")
		if err := os.WriteFile(l.SSHConfig, renderSSHConfig(l.Bastion, l.Hosts, l.PrivateKey), 0o644); err != nil {
			return fmt.Errorf("write ssh config: %w", err)
		}
	}
	l.KnownHosts = filepath.Join(l.Dir, "known_hosts")
	if err := os.WriteFile(l.KnownHosts, renderKnownHosts(known), 0o644); err != nil {
		return fmt.Errorf("write known_hosts: %w", err)
	}
	inv, err := renderInventory(l.Hosts, l.PrivateKey, l.opts.Groups, l.opts.SudoUser)
	if err != nil {
		return err
	}
	l.Inventory = filepath.Join(l.Dir, "inventory.yml")
	if err := os.WriteFile(l.Inventory, inv, 0o644); err != nil {
		return fmt.Errorf("write inventory: %w", err)
	}
	return nil
}

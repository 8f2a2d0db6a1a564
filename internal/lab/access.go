package lab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"

	"golang.org/x/crypto/ssh"
)

// sudoUserPattern keeps lab user names simple, so they need no quoting
// in passwd, sudoers or shell lines.
var sudoUserPattern = regexp.MustCompile(`^[a-z][a-z0-9]{0,15}$`)

// sudoUID is the user and group id of Options.SudoUser on every host.
// Hosts have private passwd files, so it collides with no machine user
// there; only files in the shared /tmp show the number.
const sudoUID = 2742

// addSudoUser adds user to the host's private passwd, group and shadow
// copies, gives it a home under the host's private /home with the
// client key authorized, and a sudoers.d rule for all commands: with a
// password when password is set, else NOPASSWD.
func addSudoUser(ctx context.Context, h *Host, user, password string, clientKey *sshKey) error {
	hash := "*" // no password; "!" would lock the account for sshd
	if password != "" {
		cmd := exec.CommandContext(ctx, "openssl", "passwd", "-6", "-stdin")
		cmd.Stdin = strings.NewReader(password + "\n")
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("hash password of %s: %w", user, err)
		}
		hash = strings.TrimSpace(string(out))
	}
	id := fmt.Sprint(sudoUID)
	appends := map[string]string{
		"/etc/passwd": fmt.Sprintf("%s:x:%s:%s::/home/%s:/bin/sh\n", user, id, id, user),
		"/etc/group":  fmt.Sprintf("%s:x:%s:\n", user, id),
		"/etc/shadow": fmt.Sprintf("%s:%s:19000:0:99999:7:::\n", user, hash),
	}
	for target, line := range appends {
		if err := appendToFile(h.Mounts[target], line); err != nil {
			return err
		}
	}

	rule := user + " ALL=(ALL:ALL) NOPASSWD: ALL\n"
	if password != "" {
		rule = user + " ALL=(ALL:ALL) ALL\n"
	}
	if err := os.WriteFile(filepath.Join(h.Mounts["/etc/sudoers.d"], "regtrust-lab"), []byte(rule), 0o440); err != nil {
		return fmt.Errorf("write sudo rule for %s: %w", user, err)
	}

	home := filepath.Join(h.Mounts["/home"], user)
	sshDir := filepath.Join(home, ".ssh")
	if err := os.MkdirAll(sshDir, 0o700); err != nil {
		return fmt.Errorf("create home of %s: %w", user, err)
	}
	keys := filepath.Join(sshDir, "authorized_keys")
	if err := os.WriteFile(keys, clientKey.authorizedKey(), 0o600); err != nil {
		return fmt.Errorf("write authorized_keys of %s: %w", user, err)
	}
	for _, p := range []string{home, sshDir, keys} {
		if err := os.Chown(p, sudoUID, sudoUID); err != nil {
			return fmt.Errorf("chown %s: %w", p, err)
		}
	}
	if err := os.Chmod(home, 0o700); err != nil {
		return fmt.Errorf("chmod %s: %w", home, err)
	}
	return nil
}

func appendToFile(path, line string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	if _, err := f.WriteString(line); err != nil {
		f.Close()
		return fmt.Errorf("append to %s: %w", path, err)
	}
	return f.Close()
}

// startBastion starts the bastion when the lab has hidden hosts and
// returns an SSH connection to it, through which the hidden hosts' sshd
// is awaited. It returns nil without hidden hosts.
func (l *Lab) startBastion(ctx context.Context, clientKey *sshKey) (*ssh.Client, error) {
	if len(l.opts.HiddenHosts) == 0 {
		return nil, nil
	}
	hostKey, err := newSSHKey("regtrust-lab-bastion")
	if err != nil {
		return nil, err
	}
	b := &Host{
		Name:       "bastion",
		Dir:        filepath.Join(l.Dir, "hosts", "bastion"),
		Address:    l.network.registryIP.String(),
		netns:      l.network.netns,
		forwarding: true,
		hostKey:    hostKey,
	}
	l.Bastion = b
	if err := l.prepareAndStartSSHD(ctx, b, clientKey, nil); err != nil {
		return nil, err
	}
	config := &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(clientKey.signer)},
		HostKeyCallback: ssh.FixedHostKey(hostKey.signer.PublicKey()),
	}
	client, err := ssh.Dial("tcp", b.addr(), config)
	if err != nil {
		return nil, fmt.Errorf("connect to the bastion at %s: %w", b.addr(), err)
	}
	return client, nil
}

// renderSSHConfig returns an OpenSSH client config that reaches each
// hidden host through the bastion. Hidden hosts are looked up by their
// inventory name, which the inventory gives no ansible_host.
func renderSSHConfig(bastion *Host, hosts []*Host, privateKey string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "Host lab-bastion\n    HostName %s\n    Port %d\n    User root\n    IdentityFile %s\n\n",
		bastion.Address, bastion.Port, privateKey)
	for _, h := range hosts {
		if !h.Hidden {
			continue
		}
		fmt.Fprintf(&b, "Host %s\n    HostName 127.0.0.1\n    Port %d\n    ProxyJump lab-bastion\n\n", h.Name, h.Port)
	}
	return []byte(b.String())
}

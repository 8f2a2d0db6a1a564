package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// Host is one lab Docker host: an sshd in a mount namespace and a PID
// namespace of its own. The PID namespace keeps `pidof dockerd` and
// `ps` on one host from finding another host's processes.
type Host struct {
	// Name is the inventory name, "node1", "node2", ...
	Name string
	// Port is sshd's port on 127.0.0.1.
	Port int
	// Dockerd is true when a dockerd runs on the host.
	Dockerd bool
	// Dir is the folder on the machine that contains the host's files.
	Dir string
	// Mounts maps a path inside the host to the file or folder on the
	// machine that is bind-mounted there. /run is a tmpfs and is not
	// listed.
	Mounts map[string]string
	// RestartCommand is the host's docker_restart_command.
	RestartCommand string
	// Address is the address sshd listens on: 127.0.0.1, or the
	// registry network's address for the bastion.
	Address string
	// Hidden is true for a host whose sshd listens on 127.0.0.1 inside
	// the registry's network namespace, so that only the bastion, which
	// runs in that namespace too, can reach it.
	Hidden bool

	netns      string // network namespace to start in; "" for the machine's
	forwarding bool   // sshd allows TCP forwarding, as a bastion does
	hostKey    *sshKey
	unshare    *exec.Cmd     // parent of sshd, outside the PID namespace
	exited     chan struct{} // closed when unshare has been waited for
	sshdPID    int           // as the machine numbers it
	ns         *mountNamespace
}

// PID returns the machine's process id of the host's sshd, which is
// process 1 in the host's PID namespace.
func (h *Host) PID() int {
	return h.sshdPID
}

// hostMount is one private path inside a lab host.
type hostMount struct {
	target string // path inside the host
	source string // name under Host.Dir
	// seed, when set, is a path on the machine copied into source
	// before the host starts.
	seed string
	// file marks a single file rather than a folder.
	file bool
}

// hostMounts lists the paths that are private to each host. Every
// folder the product writes on a host must be here, because a folder
// left shared would make all lab hosts one host there.
var hostMounts = []hostMount{
	{target: "/etc/docker", source: "etc-docker"},
	{target: "/usr/local/share/ca-certificates", source: "local-ca", seed: "/usr/local/share/ca-certificates"},
	{target: "/etc/ssl/certs", source: "ssl-certs", seed: "/etc/ssl/certs"},
	// Debian's hooks run on every update-ca-certificates call. The Java
	// hook runs dpkg triggers, which take the machine-wide dpkg lock, so
	// two hosts updating at once would fail. Hosts get an empty folder.
	{target: "/etc/ca-certificates/update.d", source: "ca-update.d"},
	{target: "/var/lib/docker", source: "var-lib-docker"},
	{target: "/var/lib/regtrust", source: "var-lib-regtrust"},
	// A plain home: root's usual .bashrc starts about 100 processes on
	// every SSH login on these machines.
	{target: "/root", source: "home"},
	// A copy, so tests can fake other OS families. /etc/os-release is
	// usually a symlink; mount follows it and covers its target.
	{target: "/etc/os-release", source: "os-release", seed: "/etc/os-release", file: true},
	// A copy, so a test can give one host a name that only it resolves,
	// as a host's private DNS would. sshd resolves the targets of
	// forwarded connections, and dockerd registry names, through it.
	{target: "/etc/hosts", source: "hosts", seed: "/etc/hosts", file: true},
	// Anchor folders of the RHEL and SUSE families (/etc/pki) and of
	// Arch, for hosts that fake those families.
	{target: "/etc/pki", source: "etc-pki"},
	{target: "/etc/ca-certificates/trust-source", source: "trust-source"},
	// certs.d folders of containerd, and of podman and CRI-O.
	{target: "/etc/containerd", source: "etc-containerd", seed: "/etc/containerd"},
	{target: "/etc/containers", source: "etc-containers"},
	// Copies, so Options.SudoUser adds its user and sudo rule to one
	// host only, with a home folder of its own.
	{target: "/etc/passwd", source: "passwd", seed: "/etc/passwd", file: true},
	{target: "/etc/group", source: "group", seed: "/etc/group", file: true},
	{target: "/etc/shadow", source: "shadow", seed: "/etc/shadow", file: true},
	{target: "/etc/sudoers.d", source: "sudoers.d", seed: "/etc/sudoers.d"},
	{target: "/home", source: "home-users"},
}

// mountScript runs as process 1 of a new PID namespace, in a new mount
// namespace with a fresh /proc. It takes the sshd config path, then
// source and target pairs, and execs sshd, which so becomes process 1
// and reaps the orphans, dockerd among them, that a restart leaves.
const mountScript = `set -eu
config=$1
shift
while [ $# -gt 1 ]; do
	mount --bind "$1" "$2"
	shift 2
done
mount -t tmpfs -o mode=0755,nosuid,nodev lab-run /run
mkdir -m 0755 /run/sshd
exec /usr/sbin/sshd -D -e -f "$config"
`

// sshdConfig keeps sshd to what the product needs: root login with a
// key, exec and scp, connections forwarded to the registry for fetch_ca
// with via, no PAM (there is no session stack to set up here), and no DNS
// look-ups of clients.
const sshdConfig = `Port %d
ListenAddress %s
HostKey %s
PidFile none
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
StrictModes yes
PrintMotd no
PrintLastLog no
UseDNS no
X11Forwarding no
AllowTcpForwarding %s
MaxSessions 50
MaxStartups 100:30:200
Subsystem sftp /usr/lib/openssh/sftp-server
`

// prepareMountTargets creates the mount targets that the machine lacks.
// The folders stay after the lab closes: another lab may use them as
// mount points at that moment, and removing a mount point detaches the
// mount in every namespace.
func prepareMountTargets() error {
	for _, m := range hostMounts {
		if m.file {
			if _, err := os.Stat(m.target); err != nil {
				return fmt.Errorf("check mount target: %w", err)
			}
			continue
		}
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			return fmt.Errorf("create mount target %s: %w", m.target, err)
		}
	}
	return nil
}

// prepareHostDir creates the host's folders, seeds copies of the
// machine's trust store and OS description, and writes the sshd files.
func prepareHostDir(h *Host, clientKey *sshKey) error {
	h.Mounts = make(map[string]string, len(hostMounts))
	for _, m := range hostMounts {
		src := filepath.Join(h.Dir, m.source)
		h.Mounts[m.target] = src
		switch {
		case m.file:
			if err := copyFile(m.seed, src); err != nil {
				return err
			}
		case m.seed != "":
			if err := copyTree(m.seed, src); err != nil {
				return err
			}
		default:
			if err := os.MkdirAll(src, 0o755); err != nil {
				return fmt.Errorf("create %s: %w", src, err)
			}
		}
	}
	home := h.Mounts["/root"]
	if err := os.Chmod(home, 0o700); err != nil {
		return fmt.Errorf("chmod %s: %w", home, err)
	}
	if err := os.Mkdir(filepath.Join(home, ".ssh"), 0o700); err != nil {
		return fmt.Errorf("create %s/.ssh: %w", home, err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh", "authorized_keys"), clientKey.authorizedKey(), 0o600); err != nil {
		return fmt.Errorf("write authorized_keys for %s: %w", h.Name, err)
	}
	return h.hostKey.writePrivate(filepath.Join(h.Dir, "ssh_host_ed25519_key"))
}

// startSSHD starts the host's sshd on a free port, retrying with a new
// port when another process took the chosen one first, and waits until
// it completes an SSH handshake with the lab's keys, through via when
// that is not nil.
func startSSHD(ctx context.Context, h *Host, clientKey *sshKey, via *ssh.Client) error {
	const attempts = 5
	var err error
	for range attempts {
		var port int
		port, err = freePort()
		if err != nil {
			return err
		}
		h.Port = port
		err = h.launch()
		if err != nil {
			return err
		}
		err = h.waitSSH(ctx, clientKey, via)
		if err == nil {
			return nil
		}
		h.stopSSHD()
		if !strings.Contains(tail(h.logPath(), 5), "Address already in use") {
			return err
		}
	}
	return fmt.Errorf("start sshd for %s: no free port after %d attempts: %w", h.Name, attempts, err)
}

func (h *Host) logPath() string { return filepath.Join(h.Dir, "sshd.log") }

// launch writes the sshd config for h.Port and starts sshd inside a
// new mount namespace with the host's private mounts.
func (h *Host) launch() error {
	configPath := filepath.Join(h.Dir, "sshd_config")
	// Every host allows local forwarding, which fetch_ca's via uses; a
	// bastion allows all of it.
	forwarding := "local"
	if h.forwarding {
		forwarding = "yes"
	}
	config := fmt.Sprintf(sshdConfig, h.Port, h.Address, filepath.Join(h.Dir, "ssh_host_ed25519_key"), forwarding)
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		return fmt.Errorf("write sshd config for %s: %w", h.Name, err)
	}
	logFile, err := os.OpenFile(h.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("create sshd log for %s: %w", h.Name, err)
	}
	defer logFile.Close()

	// --kill-child makes the kernel kill sshd when unshare dies, and
	// with sshd, process 1, every process in its PID namespace.
	args := []string{
		"--mount", "--pid", "--fork", "--mount-proc", "--kill-child=SIGKILL",
		"--propagation", "private",
		"/bin/sh", "-c", mountScript, "lab-host", configPath,
	}
	for _, m := range hostMounts {
		args = append(args, h.Mounts[m.target], m.target)
	}
	cmd := exec.Command("unshare", args...)
	if h.netns != "" {
		// nsenter execs unshare, so cmd still ends up as unshare.
		cmd = exec.Command("nsenter", append([]string{"--net=/run/netns/" + h.netns, "unshare"}, args...)...)
	}
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// The host's processes die with the lab's process even when Close
	// never runs: unshare gets SIGKILL, and so sshd and the rest.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start sshd for %s: %w", h.Name, err)
	}
	h.unshare = cmd
	h.exited = make(chan struct{})
	go func(done chan struct{}) {
		cmd.Wait()
		close(done)
	}(h.exited)

	pid, err := waitChild(cmd.Process.Pid, h.exited, 10*time.Second)
	if err != nil {
		return fmt.Errorf("start sshd for %s: %w; log:\n%s", h.Name, err, tail(h.logPath(), 10))
	}
	h.sshdPID = pid
	return nil
}

// waitChild returns the pid of the first child of parent, polling until
// it exists. unshare forks once, so its only child is the shell that
// becomes sshd.
func waitChild(parent int, exited <-chan struct{}, timeout time.Duration) (int, error) {
	path := fmt.Sprintf("/proc/%d/task/%d/children", parent, parent)
	deadline := time.After(timeout)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			if fields := strings.Fields(string(b)); len(fields) > 0 {
				return strconv.Atoi(fields[0])
			}
		}
		select {
		case <-exited:
			return 0, fmt.Errorf("unshare pid %d exited before it forked", parent)
		case <-deadline:
			return 0, fmt.Errorf("unshare pid %d forked no child within %v", parent, timeout)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// waitSSH dials sshd, directly or through via, until a handshake with
// the pinned host key and the client key succeeds, sshd exits, or ctx
// ends.
func (h *Host) waitSSH(ctx context.Context, clientKey *sshKey, via *ssh.Client) error {
	config := &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(clientKey.signer)},
		HostKeyCallback: ssh.FixedHostKey(h.hostKey.signer.PublicKey()),
		Timeout:         5 * time.Second,
	}
	addr := h.addr()
	var lastErr error
	for {
		client, err := dialSSH(ctx, addr, config, via)
		if err == nil {
			client.Close()
			return nil
		}
		lastErr = err
		select {
		case <-h.exited:
			return fmt.Errorf("start sshd for %s: sshd exited; log:\n%s", h.Name, tail(h.logPath(), 10))
		case <-ctx.Done():
			return fmt.Errorf("wait for sshd of %s on %s: %w (last error: %v)", h.Name, addr, ctx.Err(), lastErr)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// addr returns sshd's HOST:PORT.
func (h *Host) addr() string {
	return net.JoinHostPort(h.Address, strconv.Itoa(h.Port))
}

// dialSSH opens an SSH connection to addr over TCP, or through a
// direct-tcpip channel of via when that is not nil.
func dialSSH(ctx context.Context, addr string, config *ssh.ClientConfig, via *ssh.Client) (*ssh.Client, error) {
	if via == nil {
		return ssh.Dial("tcp", addr, config)
	}
	conn, err := via.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, config)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// stopSSHD kills unshare and waits for it. The kernel then kills sshd
// and every other process in the host's PID namespace.
func (h *Host) stopSSHD() {
	if h.unshare == nil {
		return
	}
	h.unshare.Process.Kill()
	<-h.exited
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// copyTree copies a folder, keeping symlinks as symlinks and file
// modes as they are. /etc/ssl/certs is mostly symlinks into
// /usr/share/ca-certificates, which hosts share read-only.
func copyTree(src, dst string) error {
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm())
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case info.Mode().IsRegular():
			return copyFile(path, target)
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		// The machine has no such folder: the host starts with an
		// empty one.
		return os.MkdirAll(dst, 0o755)
	}
	if err != nil {
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return nil
}

// copyFile copies a regular file, following symlinks, with its mode.
func copyFile(src, dst string) error {
	info, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := os.WriteFile(dst, b, info.Mode().Perm()); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return nil
}

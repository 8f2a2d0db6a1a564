package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// labDirPrefix starts the name of every lab folder.
const labDirPrefix = "regtrust-lab-"

// Options configures a lab. The zero value starts one host without
// dockerd on a free 10.213.Y.0/24.
type Options struct {
	// Hosts is the number of Docker hosts; 0 means 1.
	Hosts int
	// DockerHosts is how many of the hosts, counted from node1, run
	// dockerd. It must not exceed Hosts.
	DockerHosts int
	// Subnet is the registry network, "10.X.Y.0/24". The machine side
	// of the veth gets .1 and the registry .2. Empty picks the first
	// free 10.213.Y.0/24.
	Subnet string
	// Chain selects the registry's certificate chain.
	Chain Chain
	// RegistryNameHosts lists the hosts whose /etc/hosts maps
	// RegistryDNSName to the registry's address before they start, so
	// their sshd and dockerd resolve it. Other hosts and the machine do
	// not.
	RegistryNameHosts []string
	// Groups adds inventory groups: group name to host names. Nil
	// means certsd for the odd-numbered hosts and systrust for the
	// even-numbered ones.
	Groups map[string][]string
	// Dir is the folder under which the lab folder is created; empty
	// means os.TempDir(). It must not lie under a path that hosts
	// mount privately, such as /run or /root.
	Dir string
	// Keep leaves the lab folder in place after Close, for debugging.
	Keep bool
	// SudoUser, when set, adds this user to every host with the lab's
	// client key in its authorized_keys and a sudo rule for all
	// commands, and the inventory logs in as this user with
	// ansible_become. Root logins with the key still work.
	SudoUser string
	// SudoPassword is SudoUser's password, which sudo then asks for;
	// empty means a NOPASSWD rule.
	SudoPassword string
	// HiddenHosts names hosts that only a bastion can reach: their sshd
	// listens on 127.0.0.1 inside the registry's network namespace, and
	// Lab.Bastion, an sshd on the registry network's address in that
	// namespace, forwards to them. The inventory gives them no address,
	// and Lab.SSHConfig routes them through the bastion with ProxyJump.
	HiddenHosts []string
	// Logger receives progress messages; nil discards them.
	Logger *slog.Logger
}

// Lab is a running lab: a registry in a network namespace of its own
// and Docker hosts reachable over SSH on 127.0.0.1.
type Lab struct {
	// Dir is the lab folder. Everything the lab writes is below it,
	// except the mount targets it creates on the machine and its owner
	// file under /run/regtrust-lab.
	Dir      string
	Registry *Registry
	Hosts    []*Host
	// Inventory is the path of the Ansible-style YAML inventory.
	Inventory string
	// KnownHosts is the path of a known_hosts file with every host's
	// key under "[127.0.0.1]:PORT".
	KnownHosts string
	// PrivateKey is the path of the client's ed25519 key, accepted by
	// every host for root.
	PrivateKey string
	// RestartScript is the path of the dockerd restart script.
	RestartScript string
	// StorageDriver is the storage driver of the lab's dockerds.
	StorageDriver string
	// Bastion is the jump host in front of Options.HiddenHosts; nil
	// without hidden hosts. It is not in the inventory.
	Bastion *Host
	// SSHConfig is the path of an OpenSSH client config with a Host
	// block for the bastion and for each hidden host; empty without
	// hidden hosts.
	SSHConfig string

	opts      Options
	log       *slog.Logger
	network   *network
	closeOnce sync.Once
	closeErr  error
}

// Start builds and starts a lab. On error it has already removed
// everything it started. The caller must Close a returned lab.
func Start(ctx context.Context, opts Options) (*Lab, error) {
	if missing := Requirements(); len(missing) > 0 {
		return nil, fmt.Errorf("start lab: missing %s", strings.Join(missing, "; "))
	}
	if err := validate(&opts); err != nil {
		return nil, err
	}
	l := &Lab{opts: opts, log: opts.Logger}
	if l.log == nil {
		l.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	began := time.Now()
	if err := l.start(ctx); err != nil {
		if cerr := l.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("clean up after failed start: %w", cerr))
		}
		return nil, err
	}
	l.log.Info("lab started", "dir", l.Dir, "registry", l.Registry.Address,
		"hosts", len(l.Hosts), "elapsed", time.Since(began).Round(time.Millisecond))
	return l, nil
}

func validate(opts *Options) error {
	if opts.Hosts == 0 {
		opts.Hosts = 1
	}
	if opts.Hosts < 0 || opts.DockerHosts < 0 || opts.DockerHosts > opts.Hosts {
		return fmt.Errorf("invalid lab options: Hosts=%d DockerHosts=%d; want 0 <= DockerHosts <= Hosts", opts.Hosts, opts.DockerHosts)
	}
	if opts.Dir == "" {
		opts.Dir = os.TempDir()
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return fmt.Errorf("resolve lab parent folder %q: %w", opts.Dir, err)
	}
	opts.Dir = dir
	for _, m := range hostMounts {
		if dir == m.target || strings.HasPrefix(dir, m.target+"/") {
			return fmt.Errorf("invalid lab parent folder %s: it lies under %s, which hosts mount privately; set Options.Dir or TMPDIR elsewhere", dir, m.target)
		}
	}
	if dir == "/run" || strings.HasPrefix(dir, "/run/") || strings.HasPrefix(dir, "/var/run/") {
		return fmt.Errorf("invalid lab parent folder %s: hosts mount a tmpfs over /run; set Options.Dir or TMPDIR elsewhere", dir)
	}
	if opts.Groups == nil {
		opts.Groups = defaultGroups(opts.Hosts)
	}
	for _, name := range opts.RegistryNameHosts {
		if hostIndex(name, opts.Hosts) < 0 {
			return fmt.Errorf("invalid RegistryNameHosts entry %q: hosts are node1 to node%d", name, opts.Hosts)
		}
	}
	for group, names := range opts.Groups {
		for _, name := range names {
			if hostIndex(name, opts.Hosts) < 0 {
				return fmt.Errorf("invalid lab group %q: no host %q; hosts are node1 to node%d", group, name, opts.Hosts)
			}
		}
	}
	for _, name := range opts.HiddenHosts {
		i := hostIndex(name, opts.Hosts)
		if i < 0 {
			return fmt.Errorf("invalid lab hidden host %q: hosts are node1 to node%d", name, opts.Hosts)
		}
		if i < opts.DockerHosts {
			return fmt.Errorf("invalid lab hidden host %q: it runs dockerd, which hidden hosts do not support", name)
		}
	}
	if opts.SudoUser != "" && !sudoUserPattern.MatchString(opts.SudoUser) {
		return fmt.Errorf("invalid lab sudo user %q: want lowercase letters and digits", opts.SudoUser)
	}
	return nil
}

func (l *Lab) start(ctx context.Context) error {
	dir, err := os.MkdirTemp(l.opts.Dir, labDirPrefix+"*")
	if err != nil {
		return fmt.Errorf("create lab folder: %w", err)
	}
	l.Dir = dir
	if err := prepareMountTargets(); err != nil {
		return err
	}
	if l.RestartScript, err = writeRestartScript(dir); err != nil {
		return err
	}
	if l.StorageDriver, err = detectStorageDriver(ctx, dir); err != nil {
		return err
	}

	l.network, err = claimNetwork(ctx, l.opts.Subnet, dir, l.log)
	if err != nil {
		return err
	}
	l.log.Info("network ready", "subnet", l.network.subnet, "netns", l.network.netns)
	p, err := newPKI(l.opts.Chain, l.network.registryIP, time.Now())
	if err != nil {
		return err
	}
	l.Registry, err = startRegistry(l.network, p, filepath.Join(dir, "registry"))
	if err != nil {
		return err
	}
	l.Registry.Chain = l.opts.Chain

	// The registry and the hosts start at the same time; the registry
	// takes about as long as one sshd.
	regErr := make(chan error, 1)
	go func() {
		waitCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := l.Registry.waitReady(waitCtx); err != nil {
			regErr <- err
			return
		}
		regErr <- l.Registry.seed(waitCtx)
	}()
	hostErr := l.startHosts(ctx)
	if err := errors.Join(<-regErr, hostErr); err != nil {
		return err
	}
	l.log.Info("registry seeded", "image", l.Registry.Image, "ca_sha256", l.Registry.CASHA256)
	return l.writeClientFiles()
}

// Bounds on parallel work while hosts start. Copying a host's trust
// store and starting its sshd is mostly file system work, so several run
// at once. dockerd's start is CPU-heavy, so fewer of those overlap.
const (
	maxParallelHosts   = 8
	maxParallelDockerd = 2
)

// startHosts creates every host and starts its sshd and, where asked,
// its dockerd.
func (l *Lab) startHosts(ctx context.Context) error {
	clientKey, err := newSSHKey("regtrust-lab-client")
	if err != nil {
		return err
	}
	l.PrivateKey = filepath.Join(l.Dir, "id_ed25519")
	if err := clientKey.writePrivate(l.PrivateKey); err != nil {
		return err
	}
	for i := range l.opts.Hosts {
		name := fmt.Sprintf("node%d", i+1)
		hostKey, err := newSSHKey("regtrust-lab-" + name)
		if err != nil {
			return err
		}
		h := &Host{
			Name:    name,
			Dockerd: i < l.opts.DockerHosts,
			Dir:     filepath.Join(l.Dir, "hosts", name),
			Address: "127.0.0.1",
			Hidden:  slices.Contains(l.opts.HiddenHosts, name),
			hostKey: hostKey,
		}
		if h.Hidden {
			h.netns = l.network.netns
		}
		h.RestartCommand = l.RestartScript
		if !h.Dockerd {
			h.RestartCommand += " log-only"
		}
		l.Hosts = append(l.Hosts, h)
	}

	via, err := l.startBastion(ctx, clientKey)
	if err != nil {
		return err
	}
	if via != nil {
		defer via.Close()
	}

	var wg sync.WaitGroup
	errs := make([]error, len(l.Hosts))
	hostSem := make(chan struct{}, maxParallelHosts)
	dockerdSem := make(chan struct{}, maxParallelDockerd)
	for i, h := range l.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hostVia := via
			if !h.Hidden {
				hostVia = nil
			}
			errs[i] = l.startHost(ctx, h, clientKey, hostSem, dockerdSem, hostVia)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startHost prepares the host's folders, then starts its sshd and, if
// the host has one, its dockerd, each while holding a slot of its
// semaphore.
func (l *Lab) startHost(ctx context.Context, h *Host, clientKey *sshKey, hostSem, dockerdSem chan struct{}, via *ssh.Client) error {
	began := time.Now()
	hostSem <- struct{}{}
	err := l.prepareAndStartSSHD(ctx, h, clientKey, via)
	<-hostSem
	if err != nil {
		return err
	}
	if h.Dockerd {
		dockerdSem <- struct{}{}
		err := l.startDockerd(ctx, h)
		<-dockerdSem
		if err != nil {
			return err
		}
	}
	l.log.Info("host ready", "host", h.Name, "port", h.Port, "dockerd", h.Dockerd,
		"elapsed", time.Since(began).Round(time.Millisecond))
	return nil
}

func (l *Lab) prepareAndStartSSHD(ctx context.Context, h *Host, clientKey *sshKey, via *ssh.Client) error {
	if err := os.MkdirAll(h.Dir, 0o700); err != nil {
		return fmt.Errorf("create host folder: %w", err)
	}
	if err := prepareHostDir(h, clientKey); err != nil {
		return fmt.Errorf("prepare %s: %w", h.Name, err)
	}
	if slices.Contains(l.opts.RegistryNameHosts, h.Name) {
		line := l.network.registryIP.String() + " " + RegistryDNSName + "\n"
		if err := appendFile(h.Mounts["/etc/hosts"], line); err != nil {
			return fmt.Errorf("prepare %s: %w", h.Name, err)
		}
	}
	if l.opts.SudoUser != "" && h != l.Bastion {
		if err := addSudoUser(ctx, h, l.opts.SudoUser, l.opts.SudoPassword, clientKey); err != nil {
			return fmt.Errorf("prepare %s: %w", h.Name, err)
		}
	}
	if h.Dockerd {
		daemonJSON := filepath.Join(h.Mounts["/etc/docker"], "daemon.json")
		if err := writeDaemonJSON(daemonJSON, baseDaemonJSON(l.StorageDriver)); err != nil {
			return fmt.Errorf("prepare %s: %w", h.Name, err)
		}
	}
	if err := startSSHD(ctx, h, clientKey, via); err != nil {
		return err
	}
	ns, err := openMountNamespace(h.PID())
	if err != nil {
		return fmt.Errorf("start %s: %w", h.Name, err)
	}
	h.ns = ns
	return nil
}

// Host returns the host with the given inventory name.
func (l *Lab) Host(name string) (*Host, error) {
	for _, h := range l.Hosts {
		if h.Name == name {
			return h, nil
		}
	}
	return nil, fmt.Errorf("find lab host %q: no such host; hosts are node1 to node%d", name, len(l.Hosts))
}

// running returns the host if its sshd, and so its namespace, is up.
func (l *Lab) running(name string) (*Host, error) {
	h, err := l.Host(name)
	if err != nil {
		return nil, err
	}
	if h.ns == nil {
		return nil, fmt.Errorf("use lab host %s: it is not running", name)
	}
	return h, nil
}

// Exec runs a program inside the host's mount and PID namespaces,
// without SSH, and returns its combined standard output and standard
// error. The program shares the machine's network.
func (l *Lab) Exec(ctx context.Context, host string, name string, args ...string) ([]byte, error) {
	h, err := l.running(host)
	if err != nil {
		return nil, err
	}
	cmd := nsenter(ctx, h, name, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("run %s on %s: %w", commandLine(name, args), host, err)
	}
	return out, nil
}

func nsenter(ctx context.Context, h *Host, name string, args ...string) *exec.Cmd {
	full := append([]string{"-t", fmt.Sprint(h.PID()), "--mount", "--pid", "--", name}, args...)
	return exec.CommandContext(ctx, "nsenter", full...)
}

// fileTimeout bounds ReadFile and WriteFile, which take no context.
const fileTimeout = 30 * time.Second

// ReadFile returns the content of a file at path inside the host.
func (l *Lab) ReadFile(host, path string) ([]byte, error) {
	h, err := l.running(host)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), fileTimeout)
	defer cancel()
	cmd := nsenter(ctx, h, "cat", "--", path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("read %s on %s: %w: %s", path, host, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// WriteFile writes a file at path inside the host, creating missing
// parent folders, and sets its mode.
func (l *Lab) WriteFile(host, path string, data []byte, perm os.FileMode) error {
	h, err := l.running(host)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), fileTimeout)
	defer cancel()
	script := `mkdir -p -- "$(dirname -- "$1")" && cat >"$1" && chmod "$2" -- "$1"`
	cmd := nsenter(ctx, h, "sh", "-c", script, "lab-write", path, fmt.Sprintf("%o", perm.Perm()))
	cmd.Stdin = bytes.NewReader(data)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("write %s on %s: %w: %s", path, host, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// closeTimeout bounds each step of Close.
const closeTimeout = 30 * time.Second

// Close stops every process the lab started, removes its network, and
// removes the lab folder unless Options.Keep is set. It is safe to call
// more than once and on a lab whose start failed halfway.
func (l *Lab) Close() error {
	l.closeOnce.Do(func() { l.closeErr = l.close() })
	return l.closeErr
}

func (l *Lab) close() error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	addErr := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	hosts := l.Hosts
	if l.Bastion != nil {
		hosts = append(slices.Clone(hosts), l.Bastion)
	}
	for _, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.closeHost(h); err != nil {
				addErr(err)
			}
		}()
	}
	wg.Wait()

	if l.Registry != nil {
		if err := l.Registry.stop(10 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if l.network != nil {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		if err := l.network.release(ctx); err != nil {
			errs = append(errs, err)
		}
		cancel()
	}
	if l.Dir != "" && !l.opts.Keep {
		if err := os.RemoveAll(l.Dir); err != nil {
			errs = append(errs, fmt.Errorf("remove lab folder: %w", err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("close lab %s: %w", l.Dir, errors.Join(errs...))
	}
	return nil
}

// closeHost stops dockerd gracefully, so it can stop its containerd,
// then kills whatever still runs in the host's mount namespace. When
// the last process is gone the namespace, and every mount in it, goes.
func (l *Lab) closeHost(h *Host) error {
	var errs []error
	if h.ns != nil && h.Dockerd {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		if out, err := l.Exec(ctx, h.Name, l.RestartScript, "stop"); err != nil {
			errs = append(errs, fmt.Errorf("stop dockerd: %w: %s", err, bytes.TrimSpace(out)))
		}
		cancel()
	}
	if h.ns != nil {
		if err := h.ns.killAll(closeTimeout); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, h.ns.Close())
		h.ns = nil
	}
	h.stopSSHD()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close %s: %w", h.Name, err)
	}
	return nil
}

// appendFile appends text to the file name.
func appendFile(name, text string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("append to %s: %w", name, err)
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return fmt.Errorf("append to %s: %w", name, err)
	}
	return f.Close()
}

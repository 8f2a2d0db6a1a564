package lab_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/regtrust/regtrust/internal/lab"
	"github.com/regtrust/regtrust/internal/lab/labtest"
)

const x509UnknownAuthority = "x509: certificate signed by unknown authority"

// TestLab starts three hosts, two of them with dockerd, and checks the
// properties the product's tests rely on.
func TestLab(t *testing.T) {
	l := labtest.Start(t, lab.Options{Hosts: 3, DockerHosts: 2})
	ctx := t.Context()
	pull := "docker pull " + l.Registry.Image

	t.Run("pull-fails-untrusted", func(t *testing.T) {
		for _, host := range []string{"node1", "node2"} {
			out, err := l.Exec(ctx, host, "sh", "-c", pull)
			if err == nil {
				t.Fatalf("%s: %s succeeded; want an x509 error\n%s", host, pull, out)
			}
			if !strings.Contains(string(out), x509UnknownAuthority) {
				t.Errorf("%s: pull output = %q; want it to contain %q", host, out, x509UnknownAuthority)
			}
		}
	})

	t.Run("certs-d-trusts-without-restart", func(t *testing.T) {
		pidBefore, err := l.DockerdPID("node1")
		if err != nil {
			t.Fatal(err)
		}
		caPath := path.Join("/etc/docker/certs.d", l.Registry.Address, "ca.crt")
		if err := l.WriteFile("node1", caPath, l.Registry.CAPEM, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := l.Exec(ctx, "node1", "sh", "-c", pull); err != nil {
			t.Fatalf("node1: %s after placing %s: %v\n%s", pull, caPath, err, out)
		}
		pidAfter, err := l.DockerdPID("node1")
		if err != nil {
			t.Fatal(err)
		}
		if pidAfter != pidBefore {
			t.Errorf("node1 dockerd pid = %d; want %d (no restart)", pidAfter, pidBefore)
		}
		if n, err := l.Restarts("node1"); err != nil || n != 0 {
			t.Errorf("node1 restarts = %d, %v; want 0, nil", n, err)
		}
		out, err := l.Exec(ctx, "node2", "sh", "-c", pull)
		if err == nil || !strings.Contains(string(out), x509UnknownAuthority) {
			t.Errorf("node2: pull = %v, %q; want the x509 error, because only node1 got the CA", err, out)
		}
	})

	t.Run("mounts-private", func(t *testing.T) {
		for _, dir := range []string{
			"/etc/docker",
			"/usr/local/share/ca-certificates",
			"/etc/ssl/certs",
			"/etc/ca-certificates/update.d",
			"/run",
			"/var/lib/docker",
			"/var/lib/regtrust",
			"/root",
		} {
			t.Run(strings.ReplaceAll(strings.Trim(dir, "/"), "/", "-"), func(t *testing.T) {
				probe := path.Join(dir, "lab-probe-"+strconv.Itoa(os.Getpid()))
				if err := l.WriteFile("node2", probe, []byte("node2\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				got, err := l.ReadFile("node2", probe)
				if err != nil || string(got) != "node2\n" {
					t.Fatalf("node2 reads %s = %q, %v; want %q", probe, got, err, "node2\n")
				}
				for _, other := range []string{"node1", "node3"} {
					if got, err := l.ReadFile(other, probe); err == nil {
						t.Errorf("%s reads %s = %q; want no such file", other, probe, got)
					}
				}
				if _, err := os.Stat(probe); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("machine: stat %s = %v; want not exist", probe, err)
				}
			})
		}
	})

	t.Run("processes-private", func(t *testing.T) {
		out, err := l.Exec(ctx, "node3", "pidof", "dockerd")
		if err == nil {
			t.Errorf("node3: pidof dockerd = %q; want none, because other hosts' processes must be invisible", out)
		}
		out, err = l.Exec(ctx, "node1", "pidof", "dockerd")
		if err != nil {
			t.Fatalf("node1: pidof dockerd: %v\n%s", err, out)
		}
		pidFile, err := l.ReadFile("node1", "/run/docker.pid")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.TrimSpace(string(out)), strings.TrimSpace(string(pidFile)); got != want {
			t.Errorf("node1: pidof dockerd = %q; want only %q from /run/docker.pid", got, want)
		}
	})

	t.Run("os-release-private", func(t *testing.T) {
		fake := "ID=rocky\nID_LIKE=\"rhel centos fedora\"\n"
		if err := l.WriteFile("node3", "/etc/os-release", []byte(fake), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := l.ReadFile("node3", "/etc/os-release")
		if err != nil || string(got) != fake {
			t.Errorf("node3 /etc/os-release = %q, %v; want %q", got, err, fake)
		}
		machine, err := os.ReadFile("/etc/os-release")
		if err != nil {
			t.Fatal(err)
		}
		if string(machine) == fake {
			t.Errorf("machine /etc/os-release = %q; want it unchanged", machine)
		}
	})

	t.Run("ssh-login", func(t *testing.T) {
		for _, h := range l.Hosts {
			marker := "/var/lib/regtrust/lab-whoami"
			if err := l.WriteFile(h.Name, marker, []byte(h.Name), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.CommandContext(ctx, "ssh",
				"-o", "BatchMode=yes",
				"-o", "StrictHostKeyChecking=yes",
				"-o", "UserKnownHostsFile="+l.KnownHosts,
				"-o", "IdentitiesOnly=yes",
				"-i", l.PrivateKey,
				"-p", strconv.Itoa(h.Port),
				"root@127.0.0.1", "cat "+marker)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("%s: ssh: %v\n%s", h.Name, err, out)
				continue
			}
			if string(out) != h.Name {
				t.Errorf("%s: ssh read %s = %q; want %q (the session must land in the host's namespace)", h.Name, marker, out, h.Name)
			}
		}
	})

	t.Run("ssh-rejects-unknown-key", func(t *testing.T) {
		h := l.Hosts[0]
		empty := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(empty, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(ctx, "ssh",
			"-o", "BatchMode=yes",
			"-o", "StrictHostKeyChecking=yes",
			"-o", "UserKnownHostsFile="+empty,
			"-i", l.PrivateKey,
			"-p", strconv.Itoa(h.Port),
			"root@127.0.0.1", "true")
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("ssh with an empty known_hosts succeeded; want host key verification to fail\n%s", out)
		}
	})

	t.Run("restart-script", func(t *testing.T) {
		before, err := l.DockerdPID("node2")
		if err != nil {
			t.Fatal(err)
		}
		h, err := l.Host("node2")
		if err != nil {
			t.Fatal(err)
		}

		if out, err := l.Exec(ctx, "node2", "sh", "-c", h.RestartCommand); err != nil {
			t.Fatalf("node2: %s: %v\n%s", h.RestartCommand, err, out)
		}

		after, err := l.DockerdPID("node2")
		if err != nil {
			t.Fatal(err)
		}
		if after == before {
			t.Errorf("node2 dockerd pid = %d after restart; want a new pid", after)
		}

		if !waitReaped(before) {
			t.Errorf("node2 old dockerd pid %d still in /proc after restart; want it reaped by the host's sshd", before)
		}
		if n, err := l.Restarts("node2"); err != nil || n != 1 {
			t.Errorf("node2 restarts = %d, %v; want 1, nil", n, err)
		}
		if out, err := l.Exec(ctx, "node2", "docker", "info", "--format", "{{.Driver}}"); err != nil || strings.TrimSpace(string(out)) != l.StorageDriver {
			t.Errorf("node2 docker info driver = %q, %v; want %q", out, err, l.StorageDriver)
		}
		// The other dockerd host keeps its daemon.
		if n, err := l.Restarts("node1"); err != nil || n != 0 {
			t.Errorf("node1 restarts = %d, %v; want 0, nil", n, err)
		}
	})

	t.Run("restart-with-extra-flags", func(t *testing.T) {
		h, err := l.Host("node2")
		if err != nil {
			t.Fatal(err)
		}
		restart := func() ([]byte, error) {
			return l.Exec(ctx, "node2", "sh", "-c", h.RestartCommand)
		}
		if err := l.SetDockerdFlags("node2", "--debug"); err != nil {
			t.Fatal(err)
		}
		if out, err := restart(); err != nil {
			t.Fatalf("node2: restart with --debug: %v\n%s", err, out)
		}
		nsPID, err := l.ReadFile("node2", "/run/docker.pid")
		if err != nil {
			t.Fatal(err)
		}
		cmdline, err := l.ReadFile("node2", "/proc/"+strings.TrimSpace(string(nsPID))+"/cmdline")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(cmdline), "--debug") {
			t.Errorf("node2 dockerd command line = %q; want --debug from %s", cmdline, lab.FlagsFile)
		}

		// A flag that daemon.json also sets makes dockerd exit at start;
		// the script says so at once, with dockerd's own error.
		if err := l.SetDockerdFlags("node2", "--storage-driver="+l.StorageDriver); err != nil {
			t.Fatal(err)
		}
		began := time.Now()
		out, err := restart()
		if err == nil {
			t.Fatalf("node2: restart with a conflicting flag succeeded; want it to fail\n%s", out)
		}
		if !strings.Contains(string(out), "dockerd exited during its start") || !strings.Contains(string(out), "specified both as a flag and in the configuration file") {
			t.Errorf("restart output = %q; want the early exit and dockerd's conflict error", out)
		}
		t.Logf("failed restart took %v", time.Since(began).Round(time.Millisecond))

		if err := l.SetDockerdFlags("node2"); err != nil {
			t.Fatal(err)
		}
		if out, err := restart(); err != nil {
			t.Fatalf("node2: restart without flags: %v\n%s", err, out)
		}
		if _, err := l.DockerdPID("node2"); err != nil {
			t.Errorf("node2 dockerd after removing the flags: %v", err)
		}
	})

	t.Run("restart-log-only-host", func(t *testing.T) {
		h, err := l.Host("node3")
		if err != nil {
			t.Fatal(err)
		}
		if out, err := l.Exec(ctx, "node3", "sh", "-c", h.RestartCommand); err != nil {
			t.Fatalf("node3: %s: %v\n%s", h.RestartCommand, err, out)
		}
		if n, err := l.Restarts("node3"); err != nil || n != 1 {
			t.Errorf("node3 restarts = %d, %v; want 1, nil", n, err)
		}
		if pid, err := l.DockerdPID("node3"); err == nil {
			t.Errorf("node3 dockerd pid = %d; want no dockerd on an sshd-only host", pid)
		}
	})

	t.Run("inventory", func(t *testing.T) {
		checkInventory(t, l)
	})
}

// waitReaped polls until /proc has no entry for pid, so the process has
// exited and been reaped, or ten seconds pass.
func waitReaped(pid int) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// waitGone polls /proc until pid is gone or ten seconds pass. A
// zombie counts as gone.
func waitGone(pid int) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

type inventory struct {
	All struct {
		Children map[string]struct {
			Hosts map[string]map[string]any `yaml:"hosts"`
		} `yaml:"children"`
	} `yaml:"all"`
}

func checkInventory(t *testing.T, l *lab.Lab) {
	t.Helper()
	b, err := os.ReadFile(l.Inventory)
	if err != nil {
		t.Fatal(err)
	}
	var inv inventory
	if err := yaml.Unmarshal(b, &inv); err != nil {
		t.Fatalf("parse inventory: %v\n%s", err, b)
	}
	all := inv.All.Children[lab.GroupAll].Hosts
	for _, h := range l.Hosts {
		vars, ok := all[h.Name]
		if !ok {
			t.Errorf("inventory group %s lacks %s", lab.GroupAll, h.Name)
			continue
		}
		want := map[string]any{
			"ansible_host":                 "127.0.0.1",
			"ansible_port":                 h.Port,
			"ansible_user":                 "root",
			"ansible_ssh_private_key_file": l.PrivateKey,
			"docker_restart_command":       h.RestartCommand,
		}
		for k, v := range want {
			if vars[k] != v {
				t.Errorf("inventory %s.%s = %v; want %v", h.Name, k, vars[k], v)
			}
		}
	}
	for group, want := range map[string][]string{
		lab.GroupDockerd: {"node1", "node2"},
		lab.GroupSSHOnly: {"node3"},
		"certsd":         {"node1", "node3"},
		"systrust":       {"node2"},
	} {
		got := inv.All.Children[group].Hosts
		if len(got) != len(want) {
			t.Errorf("inventory group %s has %d hosts; want %v", group, len(got), want)
		}
		for _, name := range want {
			if _, ok := got[name]; !ok {
				t.Errorf("inventory group %s lacks %s", group, name)
			}
		}
	}
}

// TestLabClose checks that Close leaves no process, network or folder.
func TestLabClose(t *testing.T) {
	labtest.Require(t)
	l, err := lab.Start(t.Context(), lab.Options{Hosts: 2, DockerHosts: 1})
	if err != nil {
		t.Fatalf("start lab: %v", err)
	}
	var pids []int
	for _, h := range l.Hosts {
		pids = append(pids, h.PID())
	}
	dockerd, err := l.DockerdPID("node1")
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	pids = append(pids, dockerd)
	children, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", dockerd, dockerd))
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(children)) {
		pid, _ := strconv.Atoi(f)
		pids = append(pids, pid) // containerd
	}
	netns := netnsOf(t, l)

	if err := l.Close(); err != nil {
		t.Fatalf("close lab: %v", err)
	}
	for _, pid := range pids {
		if !waitGone(pid) {
			t.Errorf("pid %d still runs after Close", pid)
		}
	}
	if _, err := os.Stat(l.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat lab folder %s = %v; want not exist", l.Dir, err)
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), netns) {
		t.Errorf("ip netns list = %q; want no %s", out, netns)
	}
	if err := exec.Command("ip", "link", "show", netns).Run(); err == nil {
		t.Errorf("ip link show %s succeeded; want the veth removed", netns)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v; want nil", err)
	}
}

// netnsOf returns the lab's network namespace name, which the veth on
// the machine side shares.
func netnsOf(t *testing.T, l *lab.Lab) string {
	t.Helper()
	host, _, err := net.SplitHostPort(l.Registry.Address)
	if err != nil {
		t.Fatal(err)
	}
	a := strings.Split(host, ".")
	return "rtlab-" + a[1] + "-" + a[2]
}

// crashHelperEnv makes the test binary start a lab, print its network
// namespace and folder, and wait to be killed, as a lab process that
// dies without Close does.
const crashHelperEnv = "REGTRUST_LAB_CRASH_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(crashHelperEnv) != "" {
		os.Exit(runCrashHelper())
	}
	os.Exit(m.Run())
}

func runCrashHelper() int {
	l, err := lab.Start(context.Background(), lab.Options{Hosts: 1, DockerHosts: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	host, _, _ := net.SplitHostPort(l.Registry.Address)
	a := strings.Split(host, ".")
	fmt.Printf("rtlab-%s-%s %s\n", a[1], a[2], l.Dir)
	select {}
}

// TestLabSweepsStale kills a process that runs a lab, then checks that
// the lab's processes died with it and that the next Start removes the
// network and folder it left.
func TestLabSweepsStale(t *testing.T) {
	labtest.Require(t)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashHelperEnv+"=1")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var netns, dir string
	if _, err := fmt.Fscan(stdout, &netns, &dir); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("read helper output: %v", err)
	}
	nsPIDs := func() string {
		out, _ := exec.Command("ip", "netns", "pids", netns).Output()
		return strings.TrimSpace(string(out))
	}
	if nsPIDs() == "" {
		t.Errorf("ip netns pids %s is empty while the helper runs; want the registry", netns)
	}
	cmd.Process.Kill()
	cmd.Wait()

	if !waitEmpty(nsPIDs) {
		t.Errorf("ip netns pids %s = %q after the helper died; want none", netns, nsPIDs())
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("stat %s = %v; want the stale lab folder still there before the next Start", dir, err)
	}

	l := labtest.Start(t, lab.Options{Hosts: 1})
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stat stale lab folder %s = %v; want it removed by Start", dir, err)
	}
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	// The new lab may reuse the freed subnet; any other holder of that
	// namespace name is the stale lab.
	if netnsOf(t, l) != netns && strings.Contains(string(out), netns+" ") {
		t.Errorf("ip netns list = %q; want stale %s removed", out, netns)
	}
}

// waitEmpty polls f until it returns "" or ten seconds pass.
func waitEmpty(f func() string) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if f() == "" {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// TestLabChains starts a lab per chain kind and checks what the
// registry serves to a client on the machine.
func TestLabChains(t *testing.T) {
	tests := []struct {
		chain     lab.Chain
		wantCerts int
		wantErr   string // substring of the verification error; empty means it verifies
	}{
		{chain: lab.ChainRootLeaf, wantCerts: 2},
		{chain: lab.ChainIntermediate, wantCerts: 2},
		{chain: lab.ChainSelfSigned, wantCerts: 1},
		{chain: lab.ChainNoIPSAN, wantCerts: 2, wantErr: "doesn't contain any IP SANs"},
	}
	for _, tt := range tests {
		t.Run(tt.chain.String(), func(t *testing.T) {
			l := labtest.Start(t, lab.Options{Hosts: 1, Chain: tt.chain})
			roots := x509.NewCertPool()
			if !roots.AppendCertsFromPEM(l.Registry.CAPEM) {
				t.Fatalf("parse CAPEM %q", l.Registry.CAPEM)
			}
			dialer := &net.Dialer{Timeout: 10 * time.Second}
			conn, err := tls.DialWithDialer(dialer, "tcp", l.Registry.Address, &tls.Config{InsecureSkipVerify: true})
			if err != nil {
				t.Fatalf("dial registry: %v", err)
			}
			defer conn.Close()
			served := conn.ConnectionState().PeerCertificates
			if len(served) != tt.wantCerts {
				t.Errorf("registry sends %d certificates; want %d", len(served), tt.wantCerts)
			}
			for _, c := range served {
				if c.Subject.CommonName == "regtrust lab root CA" && tt.chain == lab.ChainIntermediate {
					t.Errorf("registry sends the root CA; want only leaf and intermediate")
				}
			}
			host, _, _ := net.SplitHostPort(l.Registry.Address)
			inter := x509.NewCertPool()
			for _, c := range served[1:] {
				inter.AddCert(c)
			}
			_, err = served[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("verify served chain against CAPEM: %v; want success", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("verify served chain against CAPEM: %v; want an error containing %q", err, tt.wantErr)
			}
			ca, err := parseOne(l.Registry.CAPEM)
			if err != nil {
				t.Fatal(err)
			}
			if got := lab.Fingerprint(ca); got != l.Registry.CASHA256 {
				t.Errorf("CASHA256 = %s; want %s", l.Registry.CASHA256, got)
			}
		})
	}
}

func parseOne(pemBytes []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("parse CAPEM %q: no CERTIFICATE block", pemBytes)
	}
	return x509.ParseCertificate(block.Bytes)
}

// BenchmarkStartClose measures a whole lab life: start, then Close.
// Hosts without dockerd show the cost of sshd hosts alone.
func BenchmarkStartClose(b *testing.B) {
	for _, bc := range []struct{ hosts, dockerHosts int }{
		{hosts: 1},
		{hosts: 10},
		{hosts: 50},
		{hosts: 3, dockerHosts: 2},
	} {
		b.Run(fmt.Sprintf("hosts=%d/dockerd=%d", bc.hosts, bc.dockerHosts), func(b *testing.B) {
			labtest.Require(b)
			for b.Loop() {
				l, err := lab.Start(b.Context(), lab.Options{Hosts: bc.hosts, DockerHosts: bc.dockerHosts})
				if err != nil {
					b.Fatal(err)
				}
				if err := l.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

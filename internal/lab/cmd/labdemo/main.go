// Command labdemo shows regtrust at work on a lab. It starts a private
// registry and three Docker hosts and shows a pull that fails with the
// x509 error. Then it runs a playbook with --check --diff and for real,
// shows the pull working, and removes the lab, also on Ctrl-C. It needs
// root, and `make demo` builds and runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/regtrust/regtrust/internal/lab"
)

// demoPlaybook trusts the lab registry on the certsd hosts through
// Docker's certs.d, and on the systrust hosts through the OS trust
// store, which needs a dockerd restart. %[1]s is the registry address
// and %[2]s the CA fingerprint to pin.
const demoPlaybook = `# Written by labdemo for a lab whose registry is %[1]s.
- name: Trust the lab registry through Docker's certs.d (no restart)
  hosts: certsd
  registries:
    lab:
      address: %[1]s
      ca_sha256: "%[2]s"
  tasks:
    - fetch_ca: {registry: lab}
    - place_docker_cert: {registry: lab}

- name: Trust the lab registry system-wide (dockerd restarts once)
  hosts: systrust
  registries:
    lab: {address: %[1]s, ca_sha256: "%[2]s"}
  tasks:
    - fetch_ca: {registry: lab}
    - place_system_cert: {registry: lab}
      notify: update_ca
  handlers:
    - update_ca:
      notify: restart_docker_if_changed
    - restart_docker_if_changed:
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("labdemo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	regtrust := fs.String("regtrust", "bin/regtrust", "path of the regtrust `binary` to demonstrate")
	subnet := fs.String("subnet", "", "registry `network` 10.X.Y.0/24 (default: the first free 10.213.Y.0/24)")
	keep := fs.Bool("keep", false, "keep the lab folder after the demo, for a look at its files")
	verbose := fs.Bool("v", false, "log each step of the lab's start")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	bin, err := filepath.Abs(*regtrust)
	if err != nil {
		fmt.Fprintf(stderr, "labdemo: resolve %s: %v\n", *regtrust, err)
		return 1
	}
	if _, err := os.Stat(bin); err != nil {
		fmt.Fprintf(stderr, "labdemo: %v; build it with `make build` or pass -regtrust\n", err)
		return 1
	}
	if missing := lab.Requirements(); len(missing) > 0 {
		fmt.Fprintf(stderr, "labdemo: this machine cannot run the lab; missing:\n  %s\n", strings.Join(missing, "\n  "))
		return 1
	}

	// The first Ctrl-C cancels ctx, which ends the current step, and the
	// deferred Close removes the lab. A second Ctrl-C kills the demo at
	// once; the hosts then die with it.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	d := &demo{bin: bin, out: stdout}
	fmt.Fprintln(stdout, "==> Starting a lab: a registry with a private CA and three Docker hosts")
	l, err := lab.Start(ctx, lab.Options{Hosts: 3, DockerHosts: 2, Subnet: *subnet, Keep: *keep, Logger: logger})
	if err != nil {
		fmt.Fprintf(stderr, "labdemo: %v\n", err)
		return 1
	}
	d.lab = l
	defer func() {
		fmt.Fprintln(stdout, "==> Removing the lab")
		if err := l.Close(); err != nil {
			fmt.Fprintf(stderr, "labdemo: %v\n", err)
		}
		if *keep {
			fmt.Fprintf(stdout, "    lab folder kept: %s\n", l.Dir)
		}
	}()

	if err := d.steps(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(stderr, "labdemo: interrupted")
		} else {
			fmt.Fprintf(stderr, "labdemo: %v\n", err)
		}
		return 1
	}
	return 0
}

type demo struct {
	bin string
	lab *lab.Lab
	out io.Writer
}

func (d *demo) steps(ctx context.Context) error {
	l := d.lab
	fmt.Fprintf(d.out, "    registry %s, CA SHA-256 %s\n", l.Registry.Address, l.Registry.CASHA256)
	for _, h := range l.Hosts {
		fmt.Fprintf(d.out, "    %s: ssh -p %d root@127.0.0.1, dockerd: %v\n", h.Name, h.Port, h.Dockerd)
	}
	playbook := filepath.Join(l.Dir, "site.yml")
	text := fmt.Sprintf(demoPlaybook, l.Registry.Address, l.Registry.CASHA256)
	if err := os.WriteFile(playbook, []byte(text), 0o644); err != nil {
		return fmt.Errorf("write playbook: %w", err)
	}
	fmt.Fprintf(d.out, "\n==> Playbook %s\n%s\n", playbook, text)

	fmt.Fprintln(d.out, "==> Before: node1 and node2 cannot pull from the registry")
	for _, host := range []string{"node1", "node2"} {
		if ok, err := d.pull(ctx, host); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("pull on %s succeeded before any run; the lab should not trust the registry yet", host)
		}
	}

	common := []string{"run", playbook, "-i", l.Inventory, "--known-hosts", l.KnownHosts}
	fmt.Fprintln(d.out, "\n==> regtrust run --check --diff: what would change (nothing changes)")
	if code, err := d.regtrust(ctx, append(common, "--check", "--diff", "--detailed-exitcode")...); err != nil {
		return err
	} else if code != 2 {
		return fmt.Errorf("regtrust --check exited %d; want 2, changes pending", code)
	}

	fmt.Fprintln(d.out, "\n==> regtrust run: apply")
	if code, err := d.regtrust(ctx, common...); err != nil {
		return err
	} else if code != 0 {
		return fmt.Errorf("regtrust run exited %d; want 0", code)
	}

	fmt.Fprintln(d.out, "\n==> After: both hosts pull")
	for _, host := range []string{"node1", "node2"} {
		ok, err := d.pull(ctx, host)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("pull on %s failed after the run", host)
		}
		restarts, err := l.Restarts(host)
		if err != nil {
			return err
		}
		fmt.Fprintf(d.out, "    %s: dockerd restarts: %d\n", host, restarts)
	}
	return nil
}

// pull runs docker pull on a host, prints its output, and reports
// whether it succeeded.
func (d *demo) pull(ctx context.Context, host string) (bool, error) {
	fmt.Fprintf(d.out, "%s$ docker pull %s\n", host, d.lab.Registry.Image)
	out, err := d.lab.Exec(ctx, host, "docker", "pull", d.lab.Registry.Image)
	d.out.Write(out)
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	return err == nil, nil
}

// regtrust runs the regtrust binary with its output on the demo's
// output and returns its exit code.
func (d *demo) regtrust(ctx context.Context, args ...string) (int, error) {
	fmt.Fprintf(d.out, "$ regtrust %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, d.bin, args...)
	cmd.Stdout = d.out
	cmd.Stderr = d.out
	err := cmd.Run()
	if ctx.Err() != nil {
		return 0, ctx.Err()
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("run %s: %w", d.bin, err)
	}
	return 0, nil
}

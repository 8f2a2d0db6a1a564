package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/regtrust/regtrust/internal/sshconfig"
	"github.com/regtrust/regtrust/internal/sshx"
	"github.com/regtrust/regtrust/inventory"
	"github.com/regtrust/regtrust/playbook"
	"github.com/regtrust/regtrust/tasks"
)

// Exit statuses. With --detailed-exitcode the statuses for changes and
// failures add up, so 6 means both.
const (
	exitOK       = 0
	exitError    = 1
	exitChanges  = 2
	exitFailures = 4
	// exitLocked means that --lock found another run holding the lock,
	// so this run did nothing. It is EX_TEMPFAIL of sysexits.h: try
	// again later.
	exitLocked = 75
)

const usage = `regtrust makes Docker hosts trust private container registries.

Usage:
  regtrust run PLAYBOOK -i INVENTORY [options]
  regtrust fetch-ca ADDRESS [--via HOST -i INVENTORY] [options]
  regtrust apply PLAN [options]
  regtrust inventory -i INVENTORY [--limit PATTERN] [--list | --graph [GROUP]]
  regtrust version

Run "regtrust COMMAND -h" for the options of a command.
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// run is the whole command line program; main only adds the process.
// A closed drain stops a run from starting more hosts.
func run(ctx context.Context, drain <-chan struct{}, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitError
	}
	switch args[0] {
	case "run":
		return runPlaybook(ctx, drain, args[1:], stdout, stderr)
	case "fetch-ca":
		return fetchCA(ctx, args[1:], stdout, stderr)
	case "apply":
		return applyPlan(ctx, drain, args[1:], stdout, stderr)
	case "inventory":
		return inventoryCommand(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "regtrust", version)
		return exitOK
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "regtrust: unknown command %q\n\n%s", args[0], usage)
	return exitError
}

// stringList is a flag that may be given several times.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

type runFlags struct {
	inventories       stringList
	knownHosts        stringList
	check             bool
	diff              bool
	limit             string
	forks             int
	privateKey        string
	acceptNewHostKeys bool
	report            string
	detailedExitCode  bool
	connectTimeout    time.Duration
	connectRetries    int
	hostTimeout       time.Duration
	expiry            expiryFlag
	sshConfig         string
	passwordEnv       string
	passwordFile      string
	becomePassEnv     string
	becomePassFile    string
	ops               opsFlags
}

// newRunFlags returns the flags' defaults that a zero value does not
// give.
func newRunFlags() runFlags {
	return runFlags{expiry: expiryFlag{window: tasks.DefaultExpiryWindow}}
}

// addCommonFlags registers the flags that run and apply share: how to
// reach hosts and what to write about the run.
func (f *runFlags) addCommonFlags(fs *flag.FlagSet) {
	fs.BoolVar(&f.diff, "diff", false, "show each change: certificates by subject, issuer, expiry and fingerprint, daemon.json as a unified diff")
	fs.IntVar(&f.forks, "forks", playbook.DefaultForks, "maximum number of hosts worked on at once")
	fs.Var(&f.knownHosts, "known-hosts", "known_hosts `FILE` that verifies host keys (default ~/.ssh/known_hosts); repeat for several")
	fs.StringVar(&f.privateKey, "private-key", "", "SSH private key `FILE` for hosts whose inventory sets no ansible_ssh_private_key_file")
	fs.BoolVar(&f.acceptNewHostKeys, "accept-new-host-keys", false, "trust the key of a host not yet in known_hosts and add it to the first known_hosts file (a changed key is still rejected)")
	fs.StringVar(&f.report, "report", "", "write the run's report as JSON to `FILE`")
	fs.BoolVar(&f.detailedExitCode, "detailed-exitcode", false, "exit 0 with no changes, 2 with changes, 4 with failures, 6 with both")
	fs.DurationVar(&f.connectTimeout, "connect-timeout", sshx.DefaultConnectTimeout, "time allowed for each host's TCP connection and SSH handshake, per jump host too; when not given, an ssh config ConnectTimeout applies")
	fs.IntVar(&f.connectRetries, "connect-retries", 2, "how many more times to connect to a host that refused the connection or timed out; authentication and host key failures are never retried")
	fs.DurationVar(&f.hostTimeout, "host-timeout", 15*time.Minute, "time allowed for all work on one host, after which that host fails and the others go on; 0 means no limit")
	fs.Var(&f.expiry, "expiry-warning", "warn about CA and registry certificates that expire within this `WINDOW`, in days (30d) or as a duration (720h); 0 turns it off")
	fs.StringVar(&f.sshConfig, "ssh-config", "", "OpenSSH client config `FILE` for HostName, Port, User, IdentityFile, ProxyJump and ConnectTimeout (default ~/.ssh/config when it exists; none reads no file)")
	fs.StringVar(&f.passwordEnv, "password-env", "", "environment `VARIABLE` holding the SSH password for hosts whose inventory sets no ansible_password")
	fs.StringVar(&f.passwordFile, "password-file", "", "`FILE` whose first line is the SSH password for hosts whose inventory sets no ansible_password")
	fs.StringVar(&f.becomePassEnv, "become-password-env", "", "environment `VARIABLE` holding the sudo password for become, for hosts whose inventory sets no ansible_become_password")
	fs.StringVar(&f.becomePassFile, "become-password-file", "", "`FILE` whose first line is the sudo password for become, for hosts whose inventory sets no ansible_become_password")
	f.ops.addFlags(fs)
}

// validate checks the common flags' values; command names the command
// in messages.
func (f *runFlags) validate(stderr io.Writer, command string) bool {
	if f.forks < 1 {
		fmt.Fprintf(stderr, "%s: --forks %d must be at least 1\n", command, f.forks)
		return false
	}
	if f.connectRetries < 0 || f.connectTimeout <= 0 || f.hostTimeout < 0 {
		fmt.Fprintf(stderr, "%s: invalid --connect-retries %d, --connect-timeout %v or --host-timeout %v: want retries of 0 or more, a positive connect timeout and a host timeout of 0 or more\n",
			command, f.connectRetries, f.connectTimeout, f.hostTimeout)
		return false
	}
	return true
}

// options returns the run options that the flags set. access holds what
// accessOptions read.
func (f *runFlags) options(inv *inventory.Inventory, access playbook.Options, drain <-chan struct{}, stdout, stderr io.Writer) playbook.Options {
	opts := playbook.Options{
		Inventory:         inv,
		Limit:             f.limit,
		Check:             f.check,
		Diff:              f.diff,
		Forks:             f.forks,
		KnownHostsFiles:   f.knownHosts,
		AcceptNewHostKeys: f.acceptNewHostKeys,
		PrivateKey:        f.privateKey,
		ConnectTimeout:    access.ConnectTimeout,
		SSHConfig:         access.SSHConfig,
		Keys:              access.Keys,
		Password:          access.Password,
		BecomePassword:    access.BecomePassword,
		ConnectRetries:    f.connectRetries,
		HostTimeout:       f.hostTimeout,
		Drain:             drain,
		ExpiryWindow:      f.expiry.runWindow(),
		Shard:             f.ops.shard.Shard,
		Out:               stdout,
		Quiet:             f.ops.quiet,
	}
	f.ops.setDisplay(&opts, stdout, stderr)
	return opts
}

func runPlaybook(ctx context.Context, drain <-chan struct{}, args []string, stdout, stderr io.Writer) int {
	f := newRunFlags()
	fs := flag.NewFlagSet("regtrust run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&f.inventories, "i", "inventory `FILE` or folder in Ansible YAML or INI format; repeat to merge several")
	fs.Var(&f.inventories, "inventory", "same as -i")
	fs.BoolVar(&f.check, "check", false, "report what would change without changing any host")
	fs.StringVar(&f.limit, "limit", "", "run only on hosts that also match this host `PATTERN`")
	fs.StringVar(&f.ops.plan, "plan", "", "check (as --check does) and save the planned changes and each host's state to `FILE`, for regtrust apply")
	fs.Var(&f.ops.shard, "shard", "run only on share `K/N` of the selected hosts (K from 0 to N-1), chosen by a hash of each host name")
	f.addCommonFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: regtrust run PLAYBOOK -i INVENTORY [options]\n\nOptions:")
		fs.PrintDefaults()
	}
	playbookFile, status, ok := parseOne(fs, args, stderr, "playbook")
	if !ok {
		return status
	}
	if len(f.inventories) == 0 {
		fmt.Fprintln(stderr, "regtrust run: no inventory given; add -i INVENTORY")
		return exitError
	}
	if f.ops.plan != "" {
		f.check = true
	}
	access, unlock, status, ok := f.prepare(fs, stderr, "regtrust run")
	if !ok {
		return status
	}
	defer unlock()

	pb, err := playbook.Load(playbookFile)
	if err != nil {
		return f.ops.startFailed(stderr, playbookFile, err)
	}
	inv, err := inventory.Load(f.inventories...)
	if err != nil {
		return f.ops.startFailed(stderr, playbookFile, err)
	}
	if !f.ops.quiet {
		for _, w := range inv.Warnings() {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
	}
	opts := f.options(inv, access, drain, stdout, stderr)
	rep, err := playbook.Run(ctx, pb, opts)
	if err != nil {
		return f.ops.startFailed(stderr, pb.File, err)
	}
	if f.ops.plan != "" {
		plan, err := playbook.NewPlan(pb, f.inventories, opts, rep)
		if err == nil {
			err = plan.Write(f.ops.plan)
		}
		if err != nil {
			fmt.Fprintf(stderr, "regtrust: %v\n", err)
			return exitError
		}
	}
	return f.finish(rep, pb.File, stdout, stderr)
}

// finish prints the recap and writes the report and metrics of a run
// that started, and returns the exit status.
func (f *runFlags) finish(rep *playbook.Report, playbookFile string, stdout, stderr io.Writer) int {
	switch {
	case !f.ops.quiet:
		rep.PrintRecap(stdout)
	case rep.Totals.Changes > 0 || rep.Totals.Failed+rep.Totals.Unreachable+rep.Totals.NotRun > 0:
		rep.PrintTotals(stdout)
	}
	status := exitStatus(rep, f.detailedExitCode)
	if f.report != "" {
		if err := rep.WriteJSON(f.report); err != nil {
			fmt.Fprintf(stderr, "regtrust: %v\n", err)
			status = exitError
		}
	}
	if f.ops.metrics != "" {
		if err := rep.WriteMetrics(f.ops.metrics, playbookFile); err != nil {
			fmt.Fprintf(stderr, "regtrust: %v\n", err)
			status = exitError
		}
	}
	return status
}

// accessOptions reads the ssh config and the secrets that the flags
// name, and sets the connect timeout only when the flag was given, so
// that an ssh config ConnectTimeout can apply otherwise.
func accessOptions(fs *flag.FlagSet, f *runFlags, stderr io.Writer) (playbook.Options, error) {
	var opts playbook.Options
	var err error
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "connect-timeout" {
			opts.ConnectTimeout = f.connectTimeout
		}
	})
	switch f.sshConfig {
	case sshconfig.None:
	case "":
		opts.SSHConfig, err = sshconfig.LoadDefault()
	default:
		opts.SSHConfig, err = sshconfig.Load(f.sshConfig)
	}
	if err != nil {
		return opts, fmt.Errorf("--ssh-config: %w", err)
	}
	if opts.Password, err = readSecret("--password", f.passwordEnv, f.passwordFile, stderr); err != nil {
		return opts, err
	}
	if opts.BecomePassword, err = readSecret("--become-password", f.becomePassEnv, f.becomePassFile, stderr); err != nil {
		return opts, err
	}
	opts.Keys = sshx.NewKeys(passphraseSource(os.Getenv, terminalPrompt(stderr)))
	return opts, nil
}

// parseInterspersed parses flags that may come before, between or after
// positional arguments, as in "regtrust run site.yml -i hosts.yml".
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		// flag stops at "--"; everything after it is positional.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

func exitStatus(rep *playbook.Report, detailed bool) int {
	failed := rep.Totals.Failed+rep.Totals.Unreachable+rep.Totals.NotRun > 0
	if !detailed {
		if failed {
			return exitError
		}
		return exitOK
	}
	status := exitOK
	if rep.Totals.Changes > 0 {
		status |= exitChanges
	}
	if failed {
		status |= exitFailures
	}
	return status
}

// checkOutputs reports, for the command cmd, an output file flag whose
// file cannot be created, before any host is contacted.
func (f *runFlags) checkOutputs(stderr io.Writer, cmd string) bool {
	for _, out := range []struct{ flag, file string }{{"--report", f.report}, {"--metrics", f.ops.metrics}, {"--plan", f.ops.plan}} {
		if err := checkWritable(out.file); err != nil {
			fmt.Fprintf(stderr, "%s: %s %s: %v; give a file in a folder that exists and is writable\n", cmd, out.flag, out.file, err)
			return false
		}
	}
	return true
}

// checkWritable makes sure a file can be created in the folder of file,
// so that writing an output at the end of a run is unlikely to fail after
// hosts were changed; a folder that fills up meanwhile can still fail it.
// An empty name is not checked.
func checkWritable(file string) error {
	if file == "" {
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".regtrust-check-*")
	if err != nil {
		return err
	}
	tmp.Close()
	return os.Remove(tmp.Name())
}

// parseOne parses the flags of a command that takes exactly one argument,
// named what in the message when the count is wrong. With ok false the
// command exits with status.
func parseOne(fs *flag.FlagSet, args []string, stderr io.Writer, what string) (arg string, status int, ok bool) {
	positional, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return "", exitOK, false
	}
	if err != nil {
		return "", exitError, false
	}
	if len(positional) != 1 {
		fmt.Fprintf(stderr, "%s: give exactly one %s, got %d arguments\n", fs.Name(), what, len(positional))
		fs.Usage()
		return "", exitError, false
	}
	return positional[0], exitOK, true
}

// prepare checks the flags that run and apply share, reads the access
// options and takes the --lock. With ok false the command exits with
// status; otherwise it calls unlock when it ends.
func (f *runFlags) prepare(fs *flag.FlagSet, stderr io.Writer, cmd string) (access playbook.Options, unlock func(), status int, ok bool) {
	if !f.validate(stderr, cmd) || !f.checkOutputs(stderr, cmd) {
		return access, nil, exitError, false
	}
	access, err := accessOptions(fs, f, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "regtrust: %v\n", err)
		return access, nil, exitError, false
	}
	unlock, status, ok = f.ops.lockRun(stderr)
	return access, unlock, status, ok
}

package playbook

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/sourcegraph/conc/pool"

	"github.com/regtrust/regtrust/internal/secret"
	"github.com/regtrust/regtrust/internal/sshconfig"
	"github.com/regtrust/regtrust/internal/sshx"
	"github.com/regtrust/regtrust/inventory"
	"github.com/regtrust/regtrust/tasks"
)

// DefaultForks is the default maximum number of hosts a run works on at
// once. Each host costs one SSH connection and little memory, so the
// limit is set by how many handshakes the remote side and the network
// take at once, not by the controller.
const DefaultForks = 50

// HostConn is an open connection to one host.
type HostConn interface {
	tasks.Conn
	Close() error
}

// DialFunc opens the connection to one host.
type DialFunc func(ctx context.Context, cfg sshx.Config) (HostConn, error)

// Options configure a run.
type Options struct {
	Inventory *inventory.Inventory
	// Limit further restricts the hosts of every play, as a host pattern.
	Limit string
	// Check reports what would change without changing anything.
	Check bool
	// Diff adds a description of each change to the output.
	Diff  bool
	Forks int

	// KnownHostsFiles verify host keys; empty means ~/.ssh/known_hosts.
	KnownHostsFiles   []string
	AcceptNewHostKeys bool
	// PrivateKey is used for hosts whose inventory names no key file.
	PrivateKey string
	// ConnectTimeout bounds each hop's connect and handshake; 0 means
	// the ssh config's ConnectTimeout, else sshx.DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// SSHConfig supplies settings that the inventory leaves unset; nil
	// means none. See sshConfig for the precedence.
	SSHConfig *sshconfig.File
	// Keys reads and decrypts identity files for every host of the run;
	// nil means encrypted keys work only through the agent.
	Keys *sshx.Keys
	// Password is the SSH password for hosts whose inventory sets no
	// ansible_password.
	Password secret.Value
	// BecomePassword is the sudo password for hosts whose inventory
	// sets no ansible_become_password.
	BecomePassword secret.Value
	// ConnectRetries is how many more times an unreachable host is
	// dialed; see sshx.Config.ConnectRetries.
	ConnectRetries int
	// FetchTimeout bounds the TLS handshake that fetches a registry's CA;
	// 0 means DefaultFetchTimeout.
	FetchTimeout time.Duration
	// HostTimeout bounds all the work on one host, from connecting to
	// the last handler, so a host that hangs cannot hold up the run;
	// 0 means no bound.
	HostTimeout time.Duration

	// Drain, when closed, stops the run from starting more hosts; the
	// hosts in progress finish. Cancelling the context of Run instead
	// abandons them at their next step.
	Drain <-chan struct{}

	// Shard keeps only the hosts of one share of the selected hosts; the
	// zero value keeps them all.
	Shard inventory.Shard
	// Plan makes the run apply that plan: only the hosts it planned
	// changes for, each only while its state and planned changes are
	// still those of the plan. Check must be false.
	Plan *Plan

	// Out receives the human-readable output; nil discards it.
	Out io.Writer
	// Quiet leaves only changes and failures in Out: no line per task,
	// no note about the CA, no warning.
	Quiet bool
	// Color marks statuses in Out with ANSI colours.
	Color bool
	// Progress, when set, shows how many hosts are done.
	Progress Progress
	// Dial opens host connections; nil means sshx.Dial.
	Dial DialFunc
	// FetchDial opens the controller's connections to registries for
	// fetch_ca; nil dials directly. Registries fetched through a host
	// (via) use that host's SSH connection instead.
	FetchDial tasks.DialFunc
	// ExpiryWindow is how long before a CA or registry certificate
	// expires a warning is given: 0 means tasks.DefaultExpiryWindow and
	// a negative value turns the warning off, except for certificates
	// that already expired. A registry's expiry_warning key replaces it.
	ExpiryWindow time.Duration
	// Now is the time certificates are checked against; zero means the
	// current time.
	Now time.Time
}

// expiryWindow returns the run's expiry warning window.
func (o *Options) expiryWindow() time.Duration {
	switch {
	case o.ExpiryWindow == 0:
		return tasks.DefaultExpiryWindow
	case o.ExpiryWindow < 0:
		return 0
	}
	return o.ExpiryWindow
}

func (o *Options) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

// dialer returns the function that opens host connections.
func (o *Options) dialer() DialFunc {
	if o.Dial != nil {
		return o.Dial
	}
	return func(ctx context.Context, cfg sshx.Config) (HostConn, error) {
		return sshx.Dial(ctx, cfg)
	}
}

// DefaultFetchTimeout bounds fetching one registry's CA when Options sets
// no FetchTimeout. A registry that accepts the TCP connection and never
// responds would otherwise hold the run, and with --lock every later run.
const DefaultFetchTimeout = 30 * time.Second

func (o *Options) fetchTimeout() time.Duration {
	if o.FetchTimeout > 0 {
		return o.FetchTimeout
	}
	return DefaultFetchTimeout
}

// hostPlan is the work for one host: the plays that select it and how to
// reach it.
type hostPlan struct {
	host   *inventory.Host
	plays  []*Play
	ssh    sshx.Config
	become tasks.Become
	// planned is the host's part of the plan being applied, or nil.
	planned *PlanHost
}

// Run runs pb against the hosts its plays select. An error means the run
// could not start, and no host was changed. Only a host that a registry's
// CA is fetched through (via) may have been connected to. Host failures
// are in the report.
func Run(ctx context.Context, pb *Playbook, opts Options) (*Report, error) {
	out := opts.Out
	if out == nil {
		out = io.Discard
	}
	notes := out
	if opts.Quiet {
		notes = io.Discard
	}
	if opts.Plan != nil && opts.Check {
		return nil, fmt.Errorf("internal error: a plan is applied, never checked")
	}
	plans, err := planHosts(pb, &opts, notes)
	if err != nil {
		return nil, err
	}
	var rejected []*HostReport
	if opts.Plan != nil {
		plans, rejected = selectPlanned(plans, opts.Plan, notes)
	}
	conns := newConnPool(opts.dialer())
	defer conns.closeAll()
	// No host has started while CAs are resolved, so an interrupt then
	// stops the run at once.
	resolveCtx, stopResolve := context.WithCancel(ctx)
	defer stopResolve()
	go func() {
		select {
		case <-opts.Drain:
			stopResolve()
		case <-resolveCtx.Done():
		}
	}()
	// Warnings about CAs reach the output even with Quiet, because an
	// expiring CA is what a scheduled run must report.
	warnings, err := resolveRegistries(resolveCtx, pb, plans, &opts, conns, notes, out)
	stopResolve()
	if err != nil {
		return nil, err
	}
	if opts.Plan != nil {
		if err := opts.Plan.checkRegistries(pb); err != nil {
			return nil, err
		}
	}

	report := &Report{Check: opts.Check, Started: time.Now().UTC(), Warnings: warnings}
	forks := opts.Forks
	if forks <= 0 {
		forks = DefaultForks
	}
	r := &runner{
		opts:    &opts,
		conns:   conns,
		display: &display{out: out, opts: &opts, total: len(plans)},
		forks:   forks,
		apply:   !opts.Check,
	}
	for _, plan := range plans {
		r.hosts = append(r.hosts, newHostRun(plan))
	}
	if needsRollout(pb) {
		r.rollout(ctx, pb)
	} else {
		r.runHosts(ctx)
	}
	r.finishAll(ctx)
	r.display.finish()
	for _, h := range r.hosts {
		report.Hosts = append(report.Hosts, h.report)
	}
	report.Hosts = append(report.Hosts, rejected...)
	report.Stopped = r.stopped
	report.Duration = time.Since(report.Started).Seconds()
	report.count()
	report.PrintChanges(out, opts.Diff)
	return report, nil
}

// runner is the state of one run that its hosts share.
type runner struct {
	opts    *Options
	conns   *connPool
	display *display
	forks   int
	apply   bool
	hosts   []*hostRun
	// stopped is the reason the rollout stopped early, or "".
	stopped string
}

// interrupted returns why no more hosts may start, or "".
func (r *runner) interrupted(ctx context.Context) string {
	if ctx.Err() != nil || isClosed(r.opts.Drain) {
		return "the run was interrupted"
	}
	return ""
}

// runHosts runs every host's plays at once, up to the run's forks: each
// host connects once, gathers once and runs its plays in order, without
// waiting for other hosts.
func (r *runner) runHosts(ctx context.Context) {
	p := pool.New().WithMaxGoroutines(r.forks)
	for _, h := range r.hosts {
		p.Go(func() {
			if reason := r.interrupted(ctx); reason != "" {
				h.notRun(reason + " before this host started")
				r.display.hostDone(h.report)
				return
			}
			ctx, done := h.bound(ctx, r.opts.HostTimeout)
			if h.start(ctx, r.conns, r.apply) {
				for _, play := range h.plan.plays {
					if !h.runPlay(ctx, play, noStop) {
						break
					}
				}
			}
			done()
			h.finish(ctx)
			r.display.hostDone(h.report)
		})
	}
	p.Wait()
}

func noStop() string { return "" }

// finishAll reports the hosts that the run left unfinished: those never
// started as not run, and those a stopped rollout left between plays
// with a warning.
func (r *runner) finishAll(ctx context.Context) {
	for _, h := range r.hosts {
		switch {
		case h.done:
		case !h.started && r.stopped != "":
			h.notRun("the rollout stopped before this host started: " + r.stopped)
			r.display.hostDone(h.report)
		case !h.started:
			h.notRun("the run was interrupted before this host started")
			r.display.hostDone(h.report)
		default:
			h.describeStop(r.stopped)
			h.finish(ctx)
			r.display.hostDone(h.report)
		}
	}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// planHosts selects each play's hosts and checks every host's connection
// settings, so that bad input stops the run before any host is contacted.
func planHosts(pb *Playbook, opts *Options, out io.Writer) ([]*hostPlan, error) {
	inv := opts.Inventory
	if inv == nil {
		return nil, fmt.Errorf("no inventory given")
	}
	var limit map[string]bool
	if opts.Limit != "" {
		hosts, err := inv.Select(opts.Limit)
		if err != nil {
			return nil, fmt.Errorf("--limit %q: %w", opts.Limit, err)
		}
		limit = map[string]bool{}
		for _, h := range hosts {
			limit[h.Name] = true
		}
		for _, u := range inv.Unmatched(opts.Limit) {
			fmt.Fprintf(out, "warning: --limit: %q matches no host or group\n", u)
		}
	}
	byName := map[string]*hostPlan{}
	for _, play := range pb.Plays {
		hosts, err := inv.Select(play.Hosts)
		if err != nil {
			return nil, fmt.Errorf("%s: play %q: hosts %q: %w", pb.File, play.Name, play.Hosts, err)
		}
		for _, u := range inv.Unmatched(play.Hosts) {
			fmt.Fprintf(out, "warning: play %q: %q matches no host or group in the inventory\n", play.Name, u)
		}
		for _, h := range hosts {
			if limit != nil && !limit[h.Name] {
				continue
			}
			plan := byName[h.Name]
			if plan == nil {
				plan = &hostPlan{host: h}
				byName[h.Name] = plan
			}
			plan.plays = append(plan.plays, play)
		}
	}
	var plans []*hostPlan
	for _, h := range inv.Hosts() {
		if plan := byName[h.Name]; plan != nil && opts.Shard.Contains(h.Name) {
			plan.planned = opts.Plan.host(h.Name)
			plans = append(plans, plan)
		}
	}
	// An empty shard is normal: a small inventory split into many shares.
	if len(plans) == 0 && opts.Plan == nil && opts.Shard.Count == 0 {
		limit := ""
		if opts.Limit != "" {
			limit = fmt.Sprintf(" with --limit %q", opts.Limit)
		}
		return nil, fmt.Errorf("no host of the inventory matched the plays' hosts%s; check the host and group names", limit)
	}
	if len(plans) == 0 {
		fmt.Fprintln(out, "warning: no host matched; nothing to do")
	}
	known, err := knownHostsFiles(opts)
	if err != nil {
		return nil, err
	}
	for _, plan := range plans {
		conn, err := plan.host.Connection()
		if err != nil {
			return nil, err
		}
		if plan.ssh, err = sshConfig(plan.host.Name, conn, opts, known); err != nil {
			return nil, err
		}
		if plan.become, err = becomeFor(plan.host.Name, conn, plan.plays, opts); err != nil {
			return nil, err
		}
		if err := checkRuntimeVars(plan); err != nil {
			return nil, err
		}
	}
	return plans, nil
}

// checkRuntimeVars checks container_runtime wherever it is set for a host,
// in the inventory or in the vars of a play that selects the host.
func checkRuntimeVars(plan *hostPlan) error {
	if v, ok, err := plan.host.StringVar("container_runtime"); err != nil {
		return fmt.Errorf("host %s: %w", plan.host.Name, err)
	} else if ok {
		if err := tasks.ValidateRuntime(v); err != nil {
			return fmt.Errorf("host %s: %w; fix the inventory variable", plan.host.Name, err)
		}
	}
	for _, p := range plan.plays {
		if v, ok := p.Vars["container_runtime"]; ok {
			if err := tasks.ValidateRuntime(v); err != nil {
				return fmt.Errorf("play %q: %w; fix the play's vars", p.Name, err)
			}
		}
	}
	return nil
}

// knownHostsFiles returns the known_hosts files that verify host keys:
// those of opts, else ~/.ssh/known_hosts.
func knownHostsFiles(opts *Options) ([]string, error) {
	if len(opts.KnownHostsFiles) > 0 {
		return opts.KnownHostsFiles, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return nil, fmt.Errorf("find known_hosts: %w; give --known-hosts", err)
	}
	return []string{filepath.Join(home, ".ssh", "known_hosts")}, nil
}

// resolveRegistries fetches or loads the CA of every registry that a play
// with hosts uses, once per registry source, before any host changes. A
// registry fetched through a host (via) uses that host's connection from
// conns, which the host's own tasks use later. It returns the warnings
// about the CAs, each naming its registry.
func resolveRegistries(ctx context.Context, pb *Playbook, plans []*hostPlan, opts *Options, conns *connPool, out, warnOut io.Writer) ([]string, error) {
	used := map[*Play]bool{}
	for _, plan := range plans {
		for _, p := range plan.plays {
			used[p] = true
		}
	}
	type source struct{ address, pin, file, pem, via string }
	done := map[source]*tasks.Registry{}
	warnings := []string{}
	for _, play := range pb.Plays {
		if !used[play] {
			continue
		}
		for _, name := range play.RegistryOrder {
			r := play.Registries[name]
			if !registryInUse(play, r) {
				continue
			}
			key := source{r.Address, r.Pin, r.CAFile, r.CAPEM, r.Via}
			if prev := done[key]; prev != nil {
				r.CAs, r.CA, r.CASource, r.Warnings = prev.CAs, prev.CA, prev.CASource, prev.Warnings
			} else {
				dial := opts.FetchDial
				if r.Via != "" {
					var err error
					if dial, err = viaDialer(ctx, r.Via, opts, conns); err != nil {
						return nil, fmt.Errorf("%s: play %q: registry %s: %w", pb.File, play.Name, r.Name, err)
					}
				}
				fetchCtx, cancel := context.WithTimeoutCause(ctx, opts.fetchTimeout(), fmt.Errorf("registry %s did not complete the TLS handshake within %s", r.Address, opts.fetchTimeout()))
				err := tasks.ResolveCA(fetchCtx, r, dial, opts.expiryWindow(), opts.now())
				if err != nil && fetchCtx.Err() != nil {
					err = fmt.Errorf("%w (%v)", err, context.Cause(fetchCtx))
				}
				cancel()
				if err != nil {
					return nil, fmt.Errorf("%s: play %q: %w", pb.File, play.Name, err)
				}
				done[key] = r
				printCA(out, warnOut, r)
				for _, w := range r.Warnings {
					warnings = append(warnings, fmt.Sprintf("registry %s: %s", r.Name, w))
				}
			}
			if err := tasks.LoadClientPair(r); err != nil {
				return nil, fmt.Errorf("%s: play %q: %w", pb.File, play.Name, err)
			}
		}
	}
	return warnings, nil
}

// forwarder is a host connection that can open TCP connections from the
// host's side. *sshx.Client is one.
type forwarder interface {
	Dial(ctx context.Context, network, addr string) (net.Conn, error)
}

// viaDialer connects to the inventory host name through conns and returns
// a dial function that reaches addresses from that host's side.
func viaDialer(ctx context.Context, name string, opts *Options, conns *connPool) (tasks.DialFunc, error) {
	if opts.Inventory == nil {
		return nil, fmt.Errorf("fetch the CA via host %q: no inventory given; add -i INVENTORY with that host", name)
	}
	h, ok := opts.Inventory.Host(name)
	if !ok {
		return nil, fmt.Errorf("fetch the CA via host %q: the host is not in the inventory; name a host of the inventory in via", name)
	}
	known, err := knownHostsFiles(opts)
	if err != nil {
		return nil, err
	}
	hostConn, err := h.Connection()
	if err != nil {
		return nil, fmt.Errorf("fetch the CA via host %s: %w", name, err)
	}
	cfg, err := sshConfig(name, hostConn, opts, known)
	if err != nil {
		return nil, fmt.Errorf("fetch the CA via host %s: %w", name, err)
	}
	conn, err := conns.open(ctx, name, cfg)
	if err != nil {
		return nil, fmt.Errorf("fetch the CA via host %s: %w; no host was changed", name, err)
	}
	fw, ok := conn.(forwarder)
	if !ok {
		return nil, fmt.Errorf("fetch the CA via host %s: its connection cannot forward TCP", name)
	}
	return fw.Dial, nil
}

func registryInUse(p *Play, r *tasks.Registry) bool {
	for _, s := range append(slices.Clone(p.Tasks), p.Handlers...) {
		if ru, ok := s.Task.(registryUser); ok && ru.Registry() == r {
			return true
		}
	}
	return false
}

// printCA shows the CA a registry resolved to. Without a pin the
// fingerprint is printed with the line that pins it, because a CA taken
// from the registry's own handshake is trust on first use.
func printCA(out, warnOut io.Writer, r *tasks.Registry) {
	fmt.Fprintf(out, "registry %s (%s): CA %q, SHA256 %s, from %s\n", r.Name, r.Address, r.CA.Cert.Subject.String(), r.CA.SHA256, r.CASource)
	for _, ca := range r.CAs[1:] {
		fmt.Fprintf(out, "registry %s (%s): also CA %q, SHA256 %s\n", r.Name, r.Address, ca.Cert.Subject.String(), ca.SHA256)
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(warnOut, "warning: registry %s: %s\n", r.Name, w)
	}
	if r.Pin == "" {
		fmt.Fprintf(out, "registry %s is not pinned; after checking the fingerprint, add under it:\n  ca_sha256: %q\n", r.Name, r.CA.SHA256)
	}
}

// HostNames returns the names of the hosts in r with status, sorted.
func (r *Report) HostNames(status string) []string {
	var names []string
	for _, h := range r.Hosts {
		if h.Status == status {
			names = append(names, h.Host)
		}
	}
	sort.Strings(names)
	return names
}

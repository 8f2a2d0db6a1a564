package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/regtrust/regtrust/internal/progress"
	"github.com/regtrust/regtrust/internal/runlock"
	"github.com/regtrust/regtrust/inventory"
	"github.com/regtrust/regtrust/playbook"
)

// opsFlags are the flags for scheduled and reviewed runs.
type opsFlags struct {
	plan    string
	lock    string
	metrics string
	quiet   bool
	shard   shardFlag
}

func (o *opsFlags) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.lock, "lock", "", fmt.Sprintf("hold an exclusive lock on `FILE` for the whole run; when another run holds it, exit at once with status %d", exitLocked))
	fs.StringVar(&o.metrics, "metrics", "", "write the run's metrics in Prometheus text format to `FILE`, for node_exporter's textfile collector")
	fs.BoolVar(&o.quiet, "quiet", false, "print only changes and failures, and nothing when there are none (for cron)")
}

// lockRun takes the --lock lock. When it fails, ok is false and status
// is the exit status: exitLocked when another run holds the lock.
func (o *opsFlags) lockRun(stderr io.Writer) (unlock func(), status int, ok bool) {
	if o.lock == "" {
		return func() {}, exitOK, true
	}
	l, err := runlock.Acquire(o.lock)
	var locked *runlock.LockedError
	if errors.As(err, &locked) {
		fmt.Fprintf(stderr, "regtrust: %v\n", err)
		return nil, exitLocked, false
	}
	if err != nil {
		fmt.Fprintf(stderr, "regtrust: %v\n", err)
		return nil, exitError, false
	}
	return func() { l.Unlock() }, exitOK, true
}

// startFailed reports a run that stopped before it contacted any host,
// and records it in the metrics file, so that an alert on
// regtrust_last_run_success fires for it.
func (o *opsFlags) startFailed(stderr io.Writer, playbookFile string, err error) int {
	fmt.Fprintf(stderr, "regtrust: %v\n", err)
	if o.metrics != "" {
		if merr := playbook.WriteStartFailureMetrics(o.metrics, playbookFile, time.Now()); merr != nil {
			fmt.Fprintf(stderr, "regtrust: %v\n", merr)
		}
	}
	return exitError
}

// setDisplay sets the progress line and colours. The progress goes to
// stderr: in place on a terminal, as plain lines elsewhere, and not at
// all with --quiet. Statuses are coloured only on a terminal, and never
// when NO_COLOR is set to a non-empty value (https://no-color.org) or
// TERM is dumb.
func (o *opsFlags) setDisplay(opts *playbook.Options, stdout, stderr io.Writer) {
	if !o.quiet {
		opts.Progress = progress.New(stderr, isTerminal(stderr))
	}
	opts.Color = isTerminal(stdout) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && progress.IsTerminal(f)
}

// applyPlan applies a plan that regtrust run --plan saved.
func applyPlan(ctx context.Context, drain <-chan struct{}, args []string, stdout, stderr io.Writer) int {
	f := newRunFlags()
	fs := flag.NewFlagSet("regtrust apply", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.addCommonFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, `Usage: regtrust apply PLAN [options]

Applies the changes that "regtrust run --plan PLAN" saved, with the
playbook and inventories named in the plan. A host whose state or
planned changes differ from the plan is rejected and left unchanged;
the other hosts are applied.

Options:`)
		fs.PrintDefaults()
	}
	planFile, status, ok := parseOne(fs, args, stderr, "plan file")
	if !ok {
		return status
	}
	access, unlock, status, ok := f.prepare(fs, stderr, "regtrust apply")
	if !ok {
		return status
	}
	defer unlock()

	plan, err := playbook.ReadPlan(planFile)
	if err != nil {
		return f.ops.startFailed(stderr, planFile, err)
	}
	pb, err := playbook.Load(plan.Playbook)
	if err == nil {
		err = plan.CheckPlaybook(pb)
	}
	if err != nil {
		return f.ops.startFailed(stderr, plan.Playbook, err)
	}
	inv, err := inventory.Load(plan.Inventories...)
	if err != nil {
		return f.ops.startFailed(stderr, plan.Playbook, err)
	}
	if !f.ops.quiet {
		for _, w := range inv.Warnings() {
			fmt.Fprintf(stderr, "warning: %s\n", w)
		}
	}
	f.limit = plan.Limit
	if plan.Shard != "" {
		if err := f.ops.shard.Set(plan.Shard); err != nil {
			return f.ops.startFailed(stderr, plan.Playbook, err)
		}
	}
	opts := f.options(inv, access, drain, stdout, stderr)
	opts.Plan = plan
	rep, err := playbook.Run(ctx, pb, opts)
	if err != nil {
		return f.ops.startFailed(stderr, plan.Playbook, err)
	}
	return f.finish(rep, plan.Playbook, stdout, stderr)
}

package playbook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/regtrust/regtrust/tasks"
)

// finishTimeout bounds the journal update and the close at the end of a
// host, which run even when the run's context is cancelled.
const finishTimeout = 30 * time.Second

// hostRun is one host for the whole run: its report, its connection, and
// its Target, which carries the gathered state and this run's changes
// from play to play.
type hostRun struct {
	plan   *hostPlan
	report *HostReport
	conn   HostConn
	target *tasks.Target
	// started is set once the connection was attempted, done once the
	// host runs no more plays.
	started, done bool
	// claimed lists the journal's pending handlers that a play of this
	// run took over.
	claimed map[string]bool
}

func newHostRun(plan *hostPlan) *hostRun {
	return &hostRun{
		plan:    plan,
		report:  &HostReport{Host: plan.host.Name, Status: StatusOK, Tasks: []TaskReport{}, Handlers: []string{}},
		claimed: map[string]bool{},
	}
}

// selects reports whether play p runs on the host.
func (h *hostRun) selects(p *Play) bool {
	return slices.Contains(h.plan.plays, p)
}

// lastPlay reports whether p is the last play that runs on the host.
func (h *hostRun) lastPlay(p *Play) bool {
	return h.plan.plays[len(h.plan.plays)-1] == p
}

// notRun marks a host that the run never started.
func (h *hostRun) notRun(reason string) {
	h.report.Status = StatusNotRun
	h.report.Error = reason
	h.done = true
}

// bound limits ctx to timeout, when it is above zero, for work on the
// host. The returned function releases the limit and, when it expired,
// fails the host with the reason.
func (h *hostRun) bound(ctx context.Context, timeout time.Duration) (context.Context, func()) {
	if timeout <= 0 {
		return ctx, func() {}
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("host %s timed out after %s (--host-timeout)", h.report.Host, timeout))
	return ctx, func() {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) && h.report.Status != StatusUnreachable {
			h.report.Status = StatusFailed
			h.report.Error = context.Cause(ctx).Error()
			h.done = true
		}
		cancel()
	}
}

// start connects to the host, or takes the connection that fetching a CA
// through it opened, gathers the state that every play of the host reads
// in one remote command, and loads the journal that an earlier run left.
// When a plan is applied, it checks the host against it. It returns
// false, with the reason in the report, when the host cannot be worked
// on.
func (h *hostRun) start(ctx context.Context, conns *connPool, apply bool) bool {
	h.started = true
	plan := h.plan
	conn, err := conns.take(ctx, plan.host.Name, plan.ssh)
	if err != nil {
		h.report.Status = StatusUnreachable
		h.report.Error = err.Error()
		return false
	}
	h.conn = conn

	t := tasks.NewTarget(plan.host.Name, plan.host, conn, apply)
	if err := t.UseBecome(plan.become); err != nil {
		h.report.fail(err)
		return false
	}
	probes, err := t.JournalProbes()
	if err != nil {
		h.report.fail(err)
		return false
	}
	for _, p := range plan.plays {
		t.Vars = p.varsFor(plan.host)
		for _, s := range append(slices.Clone(p.Tasks), p.Handlers...) {
			probes = append(probes, s.Task.Probes(t)...)
		}
	}
	t.Vars = plan.host

	if err := t.Gather(ctx, probes); err != nil {
		h.report.fail(err)
		return false
	}
	h.report.StateSHA256 = t.StateSHA256()
	if err := t.LoadJournal(); err != nil {
		h.report.fail(err)
		return false
	}
	if plan.planned != nil {
		if err := checkPlanned(ctx, plan, t); err != nil {
			h.report.fail(err)
			return false
		}
	}
	h.target = t
	return true
}

// finish brings the journal up to date, warns about pending handlers
// that no play of this run defines, and closes the connection.
func (h *hostRun) finish(ctx context.Context) {
	if h.done && h.conn == nil {
		return
	}
	h.done = true
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if t := h.target; t != nil {
		if err := t.Flush(ctx); err != nil {
			h.report.fail(err)
		}
		for _, name := range t.PendingHandlers() {
			if !h.claimed[name] {
				h.report.Warnings = append(h.report.Warnings, fmt.Sprintf(
					"handler %s was notified by an earlier run that did not finish, but no play of this run defines it for this host; it stays recorded in the host's journal until a run has it", name))
			}
		}
	}
	if h.conn != nil {
		h.conn.Close()
		h.conn = nil
	}
}

// pendingFor returns the handlers of p that the journal lists as pending
// and that no earlier play of this run took over, and claims them.
func (h *hostRun) pendingFor(p *Play) map[string]bool {
	return claimPending(p, h.target.PendingHandlers(), h.claimed)
}

// claimPending returns the handlers of p among pending that claimed
// lacks, and adds them to claimed, so that a pending handler runs in the
// first play that defines it.
func claimPending(p *Play, pending []string, claimed map[string]bool) map[string]bool {
	out := map[string]bool{}
	for _, name := range pending {
		if claimed[name] {
			continue
		}
		for _, s := range p.Handlers {
			if s.Name == name {
				out[name] = true
				claimed[name] = true
			}
		}
	}
	return out
}

func (hr *HostReport) fail(err error) {
	hr.Status = StatusFailed
	if hr.Error == "" {
		hr.Error = err.Error()
	}
}

func (hr *HostReport) add(tr TaskReport) {
	hr.Tasks = append(hr.Tasks, tr)
	switch tr.Status {
	case StatusChanged:
		if hr.Status == StatusOK {
			hr.Status = StatusChanged
		}
	case StatusFailed:
		hr.Status = StatusFailed
		if hr.Error == "" {
			hr.Error = tr.Task + ": " + tr.Message
		}
	}
}

// runPlay runs a play on the host; see runPlay.
func (h *hostRun) runPlay(ctx context.Context, p *Play, stop func() string) bool {
	h.target.Vars = p.varsFor(h.plan.host)
	return runPlay(ctx, p, h.target, h.report, h.pendingFor(p), stop)
}

// runPlay runs a play's tasks and then its notified handlers on one
// host, the pending ones from an earlier run included. stop returns a
// reason to stop before the next step, such as another host's failure in
// a play with any_errors_fatal. runPlay returns false when the host
// failed, so that no later play runs on it.
func runPlay(ctx context.Context, p *Play, t *tasks.Target, hr *HostReport, pending map[string]bool, stop func() string) bool {
	notified := map[string]bool{}
	for name := range pending {
		notified[name] = true
	}
	// notifiedNow lists the handlers a step of this run notified, as
	// opposed to the journal.
	notifiedNow := map[string]bool{}
	// written lists the reports of tasks whose writes are still queued,
	// so that a failed write marks them failed.
	var written []int
	flush := func() bool {
		if err := t.Flush(ctx); err != nil {
			for _, i := range written {
				hr.Tasks[i].Status = StatusFailed
				hr.Tasks[i].Message = err.Error()
			}
			hr.fail(err)
			written = nil
			return false
		}
		written = nil
		return true
	}
	stopped := func(rest []*Step, handlers bool) bool {
		reason := stop()
		if reason == "" {
			return false
		}
		flush()
		skipRest(p, rest, hr, "not run: "+reason, handlers)
		hr.fail(fmt.Errorf("stopped: %s", reason))
		return true
	}

	for i, s := range p.Tasks {
		if stopped(p.Tasks[i:], false) {
			return false
		}
		t.BeginStep(journaled(p, s.Notify, t), registryAddress(s))
		tr := runStep(ctx, p, s, t, false)
		if tr.Status == StatusChanged {
			for _, n := range s.Notify {
				notified[n], notifiedNow[n] = true, true
			}
			written = append(written, len(hr.Tasks))
		}
		hr.add(tr)
		if tr.Status == StatusFailed {
			flush()
			skipRest(p, p.Tasks[i+1:], hr, "an earlier task failed on this host", false)
			return false
		}
	}
	if !flush() {
		return false
	}

	// Handlers run in the order they are defined. A handler may notify one
	// defined before it, so the list is walked until no notified handler
	// is left. The ran map makes each handler run at most once.
	ran := map[string]bool{}
	for progress := true; progress; {
		progress = false
		for _, s := range p.Handlers {
			if !notified[s.Name] || ran[s.Name] {
				continue
			}
			var rest []*Step
			for _, other := range p.Handlers {
				if notified[other.Name] && !ran[other.Name] {
					rest = append(rest, other)
				}
			}
			if stopped(rest, true) {
				return false
			}
			ran[s.Name] = true
			progress = true
			t.BeginStep(journaled(p, s.Notify, t), registryAddress(s))
			tr := runStep(ctx, p, s, t, true)
			if pending[s.Name] && !notifiedNow[s.Name] {
				tr.Message = "pending from an earlier run that did not finish: " + tr.Message
			}
			hr.add(tr)
			if tr.Status == StatusFailed {
				flush()
				return false
			}
			t.HandlerDone(s.Name)
			if tr.Status == StatusChanged {
				hr.Handlers = append(hr.Handlers, s.Name)
				for _, n := range s.Notify {
					notified[n], notifiedNow[n] = true, true
				}
				written = append(written, len(hr.Tasks)-1)
			}
			if !flush() {
				return false
			}
		}
	}
	return true
}

// registryAddress returns the address of the registry a step works on,
// or "".
func registryAddress(s *Step) string {
	if ru, ok := s.Task.(registryUser); ok && ru.Registry() != nil {
		return ru.Registry().Address
	}
	return ""
}

func runStep(ctx context.Context, p *Play, s *Step, t *tasks.Target, handler bool) TaskReport {
	tr := TaskReport{Play: p.Name, Task: s.Label(), Handler: handler}
	if err := ctx.Err(); err != nil {
		tr.Status = StatusFailed
		tr.Message = "cancelled: " + err.Error()
		return tr
	}
	res, err := s.Task.CheckApply(ctx, t, t.Applying())
	switch {
	case err != nil:
		tr.Status = StatusFailed
		tr.Message = err.Error()
	case res.Changed:
		tr.Status = StatusChanged
		tr.Message = res.Message
		tr.Diff = res.Diff
	default:
		tr.Status = StatusOK
		tr.Message = res.Message
	}
	return tr
}

func skipRest(p *Play, rest []*Step, hr *HostReport, why string, handlers bool) {
	for _, s := range rest {
		hr.Tasks = append(hr.Tasks, TaskReport{Play: p.Name, Task: s.Label(), Handler: handlers, Status: StatusSkipped, Message: why})
	}
}

// describeStop adds to the host's warnings that the rollout stopped
// before all its plays ran.
func (h *hostRun) describeStop(reason string) {
	h.report.Warnings = append(h.report.Warnings, "the rollout stopped before every play ran on this host: "+strings.TrimSpace(reason))
}

// journaled returns the handlers among notify that the pending-handler
// journal must record before a change: all but those sure to change
// nothing on this host, such as a dockerd restart where no dockerd runs.
func journaled(p *Play, notify []string, t *tasks.Target) []string {
	var out []string
	for _, name := range notify {
		idle := false
		for _, h := range p.Handlers {
			if h.Name == name {
				if i, ok := h.Task.(tasks.Idler); ok && i.IdleOn(t) {
					idle = true
				}
			}
		}
		if !idle {
			out = append(out, name)
		}
	}
	return out
}

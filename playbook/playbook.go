// Package playbook loads and validates regtrust playbooks and runs them
// against an inventory's hosts.
//
// A playbook is a YAML list of plays. Each play names its hosts, its
// registries, its tasks and its handlers. Handlers are tasks that run once
// per host after the play's tasks, in the order they are defined, and only
// when a task or an earlier handler that changed something notified them.
//
// # How a run works on the hosts
//
// A run opens one SSH connection per host and keeps it for all the plays
// that select the host. The first time the run works on a host, it
// gathers the state that every task of those plays reads, and the host's
// journal of pending handlers, in one remote command. One Target per host
// then carries that state and the run's changes from play to play.
//
// Without rollout settings, each host runs all its plays in order as soon
// as a fork is free, without waiting for other hosts. A play with serial,
// max_fail_percentage or any_errors_fatal makes the run a rollout, as
// Ansible's linear strategy runs plays: play after play, and within a
// play batch after batch, each batch starting once the one before it has
// finished on all its hosts. A host's connection stays open between its
// plays and closes after its last one or when it fails. The rollout stops
// after a batch in which any host failed under any_errors_fatal, more than
// max_fail_percentage of the hosts failed, or, with serial, every host
// failed; hosts never started are then reported as not run. With
// any_errors_fatal the other hosts of the failing batch also stop before
// their next task. max_fail_percentage is judged when the batch has
// finished, not between tasks. In a rollout, --host-timeout bounds each
// play of a host, because the time between a host's plays is spent
// waiting for other hosts.
//
// Handlers that a change notifies are recorded in the host's journal
// before the change, and removed once they succeed. A handler that an
// earlier run left pending runs in the first play of this run that
// defines it, even when nothing changes.
package playbook

import (
	"github.com/regtrust/regtrust/tasks"
)

// Playbook is a loaded and validated playbook.
type Playbook struct {
	// File is the playbook's file name, used in messages.
	File string
	// SHA256 is the hex SHA-256 of the playbook's bytes, so that a plan
	// can tell whether the playbook changed since the plan was made.
	SHA256 string
	Plays  []*Play
}

// Play is one play of a playbook.
type Play struct {
	Name string
	// Hosts is a host pattern: a host, a group, "all" or a combination.
	Hosts string
	// Become runs the play's remote commands through sudo, unless a
	// host's ansible_become says otherwise.
	Become bool
	// BecomeUser is the user sudo runs commands as; empty means root,
	// and a host's ansible_become_user wins.
	BecomeUser string

	Registries map[string]*tasks.Registry
	// RegistryOrder lists the registry names in the order they are written.
	RegistryOrder []string
	Tasks         []*Step
	Handlers      []*Step
	// Vars are the play's vars:. They override the inventory's host and
	// group variables for the play's tasks, as play vars do in Ansible.
	Vars map[string]string

	// Serial splits the play's hosts into batches that run one after the
	// other; nil runs every host in one batch.
	Serial []BatchSize
	// MaxFailPercentage, when set, stops the rollout after a batch in
	// which more than this percentage of the batch's hosts failed.
	MaxFailPercentage *float64
	// AnyErrorsFatal stops the rollout when any host of the play fails:
	// the other hosts of the batch stop before their next task, and later
	// batches and plays do not run.
	AnyErrorsFatal bool
}

// playVars layers a play's vars over a host's inventory variables.
type playVars struct {
	play map[string]string
	host tasks.Vars
}

func (v playVars) StringVar(name string) (string, bool, error) {
	if s, ok := v.play[name]; ok {
		return s, true, nil
	}
	return v.host.StringVar(name)
}

// varsFor returns the variables the play's tasks see on host.
func (p *Play) varsFor(host tasks.Vars) tasks.Vars {
	return playVars{play: p.Vars, host: host}
}

// Step is a task or handler of a play.
type Step struct {
	// Name identifies the step in output and, for handlers, in notify
	// lists. It defaults to the task type.
	Name string
	Type string
	Task tasks.Task
	// Notify lists the handlers to run when this step changes something.
	Notify []string
	// Line is the step's line in the playbook, for messages.
	Line int
}

// Label returns the step's name with its registry, for output.
func (s *Step) Label() string {
	if r, ok := s.Task.(interface{ Registry() *tasks.Registry }); ok && s.Name == s.Type {
		return s.Name + " " + r.Registry().Name
	}
	return s.Name
}

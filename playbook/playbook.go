// Package playbook loads and validates regtrust playbooks and runs them
// against an inventory's hosts.
//
// A playbook is a YAML list of plays. Each play names its hosts, its
// registries, its tasks and its handlers. Handlers are tasks that run once
// per host after the play's tasks, in the order they are defined, and only
// when a task or an earlier handler that changed something notified them.
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

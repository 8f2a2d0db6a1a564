// Package tasks holds the check/apply pairs that converge a Docker host so
// that it trusts a private registry. Each task type lives in a file of its
// own and works through a Target: the host's connection, its variables and
// the state gathered from it in one round trip.
package tasks

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Task is one check/apply pair. CheckApply compares the host's state with
// the desired state and reports the difference; only when apply is true does
// it change the host. Check mode and apply mode run the same code, so a
// check cannot promise something that an apply would not do.
type Task interface {
	// Probes lists the host state CheckApply reads, so that the runner can
	// gather the state of every task of a host in one remote command.
	Probes(t *Target) []Probe
	CheckApply(ctx context.Context, t *Target, apply bool) (Result, error)
}

// Result is the outcome of one CheckApply.
type Result struct {
	Changed bool
	// Message is a one-line summary for the run's output, such as the
	// path that was written.
	Message string
	// Diff describes the change for --diff. It never holds a secret.
	Diff string
}

// Env is what task constructors may look up while a playbook is loaded.
type Env struct {
	// Registries are the play's registries by name.
	Registries map[string]*Registry
	// BaseDir resolves relative file names, normally the playbook's folder.
	BaseDir string
}

// Constructor builds a task from its YAML arguments. The node is nil when
// the task has no arguments. Errors name the argument and the fix; the
// caller adds the file, line and column.
type Constructor func(args *yaml.Node, env *Env) (Task, error)

var constructors = map[string]Constructor{
	FetchCAName:         newFetchCA,
	PlaceDockerCertName: newPlaceDockerCert,
	PlaceSystemCertName: newPlaceSystemCert,
	UpdateCAName:        newUpdateCA,
	RestartDockerName:   newRestartDocker,
	DaemonJSONName:      newDaemonJSONInsecure,
	RegistryLoginName:   newRegistryLogin,
}

// New builds the task of type name from its arguments.
func New(name string, args *yaml.Node, env *Env) (Task, error) {
	c, ok := constructors[name]
	if !ok {
		return nil, fmt.Errorf("unknown task %q; known tasks: %v", name, Names())
	}
	return c(args, env)
}

// Known reports whether name is a task type.
func Known(name string) bool {
	_, ok := constructors[name]
	return ok
}

// Names returns the task types in alphabetical order.
func Names() []string {
	names := make([]string, 0, len(constructors))
	for n := range constructors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// PositionError is an error at a place in the playbook's YAML.
type PositionError struct {
	Line, Column int
	Err          error
}

func (e *PositionError) Error() string {
	return fmt.Sprintf("line %d, column %d: %v", e.Line, e.Column, e.Err)
}

func (e *PositionError) Unwrap() error { return e.Err }

// at wraps err with the position of n unless it already has one.
func at(n *yaml.Node, err error) error {
	var pe *PositionError
	if err == nil || errors.As(err, &pe) || n == nil {
		return err
	}
	return &PositionError{Line: n.Line, Column: n.Column, Err: err}
}

// decodeArgs decodes a task's arguments into v. Every key must be one of
// allowed, so that a misspelt argument is an error instead of being
// silently ignored.
func decodeArgs(args *yaml.Node, v any, allowed ...string) error {
	if isNull(args) {
		return nil
	}
	if args.Kind != yaml.MappingNode {
		return at(args, fmt.Errorf("arguments must be a mapping such as {%s: ...}, not %s", allowed[0], describeNode(args)))
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(args.Content); i += 2 {
		k := args.Content[i]
		if !slices.Contains(allowed, k.Value) {
			return at(k, fmt.Errorf("unknown argument %q; allowed: %s", k.Value, strings.Join(allowed, ", ")))
		}
		if seen[k.Value] {
			return at(k, fmt.Errorf("argument %q is given twice", k.Value))
		}
		seen[k.Value] = true
	}
	if err := args.Decode(v); err != nil {
		return at(args, fmt.Errorf("invalid arguments: %s", strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  ")))
	}
	return nil
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	case yaml.MappingNode:
		return "a mapping"
	}
	return "an alias"
}

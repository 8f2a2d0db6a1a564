package playbook

import (
	"fmt"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/regtrust/regtrust/tasks"
)

// registryUser is a task that works with one registry.
type registryUser interface {
	Registry() *tasks.Registry
}

// checkPlay checks what no single step can check alone: handler names,
// notify targets, notify loops and that each registry's CA has a source.
func (l *loader) checkPlay(n *yaml.Node, p *Play) error {
	handlers := map[string]*Step{}
	for _, h := range p.Handlers {
		if _, dup := handlers[h.Name]; dup {
			return fmt.Errorf("%s:%d: handler %q is defined twice in play %q; give one of them another name:", l.file, h.Line, h.Name, p.Name)
		}
		handlers[h.Name] = h
	}
	names := make([]string, 0, len(p.Handlers))
	for _, h := range p.Handlers {
		names = append(names, h.Name)
	}
	for _, s := range append(slices.Clone(p.Tasks), p.Handlers...) {
		for _, target := range s.Notify {
			if _, ok := handlers[target]; !ok {
				return fmt.Errorf("%s:%d: %s notifies %q, which is not a handler of play %q (handlers: %s); add it under handlers:", l.file, s.Line, s.Name, target, p.Name, strings.Join(names, ", "))
			}
		}
	}
	if cycle := notifyCycle(p.Handlers, handlers); cycle != nil {
		return fmt.Errorf("%s:%d: handlers notify each other in a loop: %s; remove one of these notify entries", l.file, handlers[cycle[0]].Line, strings.Join(cycle, " -> "))
	}

	fetched := map[*tasks.Registry]bool{}
	for _, s := range p.Tasks {
		if s.Type == tasks.FetchCAName {
			fetched[s.Task.(registryUser).Registry()] = true
		}
	}
	for _, s := range append(slices.Clone(p.Tasks), p.Handlers...) {
		ru, ok := s.Task.(registryUser)
		if !ok || s.Type == tasks.FetchCAName {
			continue
		}
		r := ru.Registry()
		if !fetched[r] && r.CAFile == "" && r.CAPEM == "" {
			return fmt.Errorf("%s:%d: %s uses registry %q, whose CA is not known; add \"- fetch_ca: {registry: %s}\" before it, or give the registry ca_file or ca_pem", l.file, s.Line, s.Name, r.Name, r.Name)
		}
	}
	return nil
}

// notifyCycle returns a loop of handler names that notify each other, or
// nil when there is none.
func notifyCycle(order []*Step, byName map[string]*Step) []string {
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(name string) []string
	visit = func(name string) []string {
		switch state[name] {
		case visiting:
			i := slices.Index(stack, name)
			return append(slices.Clone(stack[i:]), name)
		case done:
			return nil
		}
		state[name] = visiting
		stack = append(stack, name)
		for _, next := range byName[name].Notify {
			if c := visit(next); c != nil {
				return c
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
		return nil
	}
	for _, h := range order {
		if c := visit(h.Name); c != nil {
			return c
		}
	}
	return nil
}

// expandShortForm turns a play that lists registries without tasks into
// the tasks and handlers that each registry's trust list requests:
//
//	docker:   fetch_ca, place_docker_cert
//	system:   fetch_ca, place_system_cert notifying update_ca, which
//	          notifies restart_docker_if_changed
//	insecure: daemon_json_insecure notifying restart_docker_if_changed
//
// A registry without trust: is trusted through certs.d, the way that
// needs no restart.
func expandShortForm(p *Play, env *tasks.Env) error {
	needUpdate, needRestart := false, false
	add := func(typ string, args map[string]any, notify ...string) error {
		var node yaml.Node
		if args != nil {
			if err := node.Encode(args); err != nil {
				return err
			}
		}
		t, err := tasks.New(typ, &node, env)
		if err != nil {
			return err
		}
		p.Tasks = append(p.Tasks, &Step{Name: typ, Type: typ, Task: t, Notify: notify})
		return nil
	}
	for _, name := range p.RegistryOrder {
		r := p.Registries[name]
		trust := r.Trust
		if trust == nil {
			trust = []string{"docker"}
		}
		ref := map[string]any{"registry": name}
		if slices.Contains(trust, "docker") || slices.Contains(trust, "system") {
			if err := add(tasks.FetchCAName, ref); err != nil {
				return err
			}
		}
		if slices.Contains(trust, "docker") {
			if err := add(tasks.PlaceDockerCertName, ref); err != nil {
				return err
			}
		}
		if slices.Contains(trust, "system") {
			if err := add(tasks.PlaceSystemCertName, ref, tasks.UpdateCAName); err != nil {
				return err
			}
			needUpdate, needRestart = true, true
		}
		if slices.Contains(trust, "insecure") {
			if err := add(tasks.DaemonJSONName, map[string]any{"registries": []string{r.Address}}, tasks.RestartDockerName); err != nil {
				return err
			}
			needRestart = true
		}
	}
	if needUpdate {
		t, _ := tasks.New(tasks.UpdateCAName, nil, env)
		p.Handlers = append(p.Handlers, &Step{Name: tasks.UpdateCAName, Type: tasks.UpdateCAName, Task: t, Notify: []string{tasks.RestartDockerName}})
	}
	if needRestart {
		t, _ := tasks.New(tasks.RestartDockerName, nil, env)
		p.Handlers = append(p.Handlers, &Step{Name: tasks.RestartDockerName, Type: tasks.RestartDockerName, Task: t})
	}
	return nil
}

package inventory

import (
	"fmt"
	"maps"
	"strings"
)

// Names of the groups that every inventory has.
const (
	groupAll       = "all"
	groupUngrouped = "ungrouped"
)

// group is a group as the inventory files read so far declare it.
type group struct {
	name     string
	vars     map[string]any
	hosts    []string // direct members in declaration order
	hostSet  map[string]bool
	children []string
	childAt  map[string]position // first declaration of each child link
	parents  []string
}

// hostEntry is a host as the inventory files read so far declare it.
type hostEntry struct {
	name string
	vars map[string]any
}

// builder collects groups and hosts from inventory files. Each file is
// parsed into a builder of its own, which is merged into the main one
// only when the whole file parsed.
type builder struct {
	groups     map[string]*group
	groupOrder []string
	hosts      map[string]*hostEntry
	hostOrder  []string
}

func newBuilder() *builder {
	return &builder{
		groups: make(map[string]*group),
		hosts:  make(map[string]*hostEntry),
	}
}

// group returns the named group, creating it when it is new.
func (b *builder) group(name string) *group {
	if g, ok := b.groups[name]; ok {
		return g
	}
	g := &group{
		name:    name,
		vars:    make(map[string]any),
		hostSet: make(map[string]bool),
		childAt: make(map[string]position),
	}
	b.groups[name] = g
	b.groupOrder = append(b.groupOrder, name)
	return g
}

func (b *builder) host(name string) *hostEntry {
	if h, ok := b.hosts[name]; ok {
		return h
	}
	h := &hostEntry{name: name, vars: make(map[string]any)}
	b.hosts[name] = h
	b.hostOrder = append(b.hostOrder, name)
	return h
}

// addHost makes host a member of group and sets its variables. A
// variable set again replaces the earlier value.
func (b *builder) addHost(groupName, hostName string, vars map[string]any) {
	h := b.host(hostName)
	maps.Copy(h.vars, vars)

	g := b.group(groupName)
	if !g.hostSet[hostName] {
		g.hostSet[hostName] = true
		g.hosts = append(g.hosts, hostName)
	}
}

// addChild makes child a child group of parent.
func (b *builder) addChild(parent, child string, at position) error {
	if child == groupAll {
		return at.errorf("group all cannot be a child of group %s: every group is already below all", parent)
	}
	if child == parent {
		return at.errorf("group %s cannot be a child of itself", child)
	}

	p := b.group(parent)
	c := b.group(child)
	if _, ok := p.childAt[child]; ok {
		return nil
	}
	p.childAt[child] = at
	p.children = append(p.children, child)
	c.parents = append(c.parents, parent)
	return nil
}

// merge adds everything that other declares. Variables of other replace
// variables of the same group or host in b.
func (b *builder) merge(other *builder) {
	for _, name := range other.hostOrder {
		maps.Copy(b.host(name).vars, other.hosts[name].vars)
	}
	for _, name := range other.groupOrder {
		src := other.groups[name]
		dst := b.group(name)
		maps.Copy(dst.vars, src.vars)
		for _, h := range src.hosts {
			if !dst.hostSet[h] {
				dst.hostSet[h] = true
				dst.hosts = append(dst.hosts, h)
			}
		}
	}
	// Child links go in after all groups exist, so that a link never
	// creates a group out of declaration order.
	for _, name := range other.groupOrder {
		src := other.groups[name]
		for _, child := range src.children {
			// Both sides were checked when other declared the link.
			_ = b.addChild(name, child, src.childAt[child])
		}
	}
}

// reconcile completes the group tree as Ansible does after reading all
// inventory sources. Groups without a parent become children of all.
// Hosts that belong to no group but all go to ungrouped, and hosts that
// belong to another group leave ungrouped. It returns an error when child
// links form a cycle.
func (b *builder) reconcile() error {
	b.group(groupAll)
	b.group(groupUngrouped)
	for _, name := range b.groupOrder {
		g := b.groups[name]
		if name != groupAll && len(g.parents) == 0 {
			_ = b.addChild(groupAll, name, position{})
		}
	}
	if err := b.checkCycles(); err != nil {
		return err
	}

	memberships := make(map[string]int, len(b.hosts))
	for _, g := range b.groups {
		if g.name == groupAll || g.name == groupUngrouped {
			continue
		}
		for _, h := range g.hosts {
			memberships[h]++
		}
	}
	ungrouped := b.groups[groupUngrouped]
	kept := ungrouped.hosts[:0]
	for _, h := range ungrouped.hosts {
		if memberships[h] == 0 {
			kept = append(kept, h)
		} else {
			delete(ungrouped.hostSet, h)
		}
	}
	ungrouped.hosts = kept
	for _, h := range b.hostOrder {
		if memberships[h] == 0 && !ungrouped.hostSet[h] {
			ungrouped.hostSet[h] = true
			ungrouped.hosts = append(ungrouped.hosts, h)
		}
	}
	return nil
}

// checkCycles returns an error naming the first chain of child links,
// in declaration order, that leads from a group back to itself.
func (b *builder) checkCycles() error {
	const (
		unvisited = iota
		visiting
		done
	)
	state := make(map[string]int, len(b.groups))
	var path []string

	var visit func(name string) error
	visit = func(name string) error {
		state[name] = visiting
		path = append(path, name)
		g := b.groups[name]
		for _, child := range g.children {
			switch state[child] {
			case visiting:
				start := 0
				for path[start] != child {
					start++
				}
				chain := append(append([]string{}, path[start:]...), child)
				return g.childAt[child].errorf(
					"child groups form a cycle: %s; remove one of these child links",
					strings.Join(chain, " -> "))
			case unvisited:
				if err := visit(child); err != nil {
					return err
				}
			}
		}
		path = path[:len(path)-1]
		state[name] = done
		return nil
	}

	for _, name := range b.groupOrder {
		if state[name] == unvisited {
			if err := visit(name); err != nil {
				return err
			}
		}
	}
	return nil
}

// depths returns each group's depth: 0 for all, and for any other group
// one more than its deepest parent. The group tree must be free of
// cycles.
func (b *builder) depths() map[string]int {
	depth := make(map[string]int, len(b.groups))
	var measure func(name string) int
	measure = func(name string) int {
		if d, ok := depth[name]; ok {
			return d
		}
		d := 0
		for _, p := range b.groups[name].parents {
			d = max(d, measure(p)+1)
		}
		depth[name] = d
		return d
	}
	for _, name := range b.groupOrder {
		measure(name)
	}
	return depth
}

// groupPriority reads ansible_group_priority from a group's inventory
// variables. Ansible sorts groups of the same depth by it, lowest first.
func groupPriority(g *group) (int, error) {
	v, ok := g.vars["ansible_group_priority"]
	if !ok || v == nil {
		return 1, nil
	}
	n, ok := intValue(v)
	if !ok {
		return 0, fmt.Errorf("group %s: invalid ansible_group_priority %v: set a whole number", g.name, v)
	}
	return n, nil
}

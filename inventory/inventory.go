package inventory

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Inventory is the merged result of one or more inventory sources. It is
// not changed after Load, so its methods are safe for concurrent use.
type Inventory struct {
	hosts      []*Host // in inventory order
	hostByName map[string]*Host
	groups     map[string]*groupNode
	groupList  []*groupNode // in declaration order
	groupNames []string     // sorted
	warnings   []string
}

// Host is a host of the inventory.
type Host struct {
	Name string
	// Groups lists, sorted by name, every group that contains the host
	// directly or through a child group, except all. It is the same list
	// as Ansible's group_names variable.
	Groups []string
	// Vars contains the host's variables after merging all layers in the
	// order that the package documentation gives.
	Vars map[string]any

	index int // position in inventory order
}

// groupNode is a group with the hosts declared directly in it.
type groupNode struct {
	name     string
	hosts    []*Host // in declaration order
	children []*groupNode
}

// Hosts returns all hosts in inventory order: the order in which the
// inventory sources first name them.
func (inv *Inventory) Hosts() []*Host {
	return slices.Clone(inv.hosts)
}

// Host returns the host with the given inventory name.
func (inv *Inventory) Host(name string) (*Host, bool) {
	h, ok := inv.hostByName[name]
	return h, ok
}

// Groups returns the names of all groups sorted by name, all and
// ungrouped included.
func (inv *Inventory) Groups() []string {
	return slices.Clone(inv.groupNames)
}

// Warnings returns problems that Ansible also reports as warnings
// without stopping, such as a host and a group with the same name, in
// the order they were found.
func (inv *Inventory) Warnings() []string {
	return slices.Clone(inv.warnings)
}

// members returns the hosts of a group and of all groups below it: the
// group's own hosts first, then those of its children, then of their
// children, each host once. Ansible orders a group's hosts the same way
// when it applies a subscript such as web[0].
func (g *groupNode) members() []*Host {
	var hosts []*Host
	seenHosts := make(map[*Host]bool)
	seenGroups := map[*groupNode]bool{g: true}
	queue := []*groupNode{g}
	for len(queue) > 0 {
		current := queue[0]
		queue = queue[1:]
		for _, h := range current.hosts {
			if !seenHosts[h] {
				seenHosts[h] = true
				hosts = append(hosts, h)
			}
		}
		for _, child := range current.children {
			if !seenGroups[child] {
				seenGroups[child] = true
				queue = append(queue, child)
			}
		}
	}
	return hosts
}

// newInventory computes every host's groups and merged variables from
// a reconciled builder and the variables files of each source.
func newInventory(b *builder, sources []*varsSource, warnings []string) (*Inventory, error) {
	order, err := groupOrder(b)
	if err != nil {
		return nil, err
	}
	rank := make(map[string]int, len(order))
	for i, name := range order {
		rank[name] = i
	}

	inv := &Inventory{
		hostByName: make(map[string]*Host, len(b.hostOrder)),
		groups:     make(map[string]*groupNode, len(b.groups)),
		groupNames: sortedKeys(b.groups),
		warnings:   warnings,
	}
	for i, name := range b.hostOrder {
		h := &Host{Name: name, index: i}
		inv.hosts = append(inv.hosts, h)
		inv.hostByName[name] = h
	}
	for _, name := range b.groupOrder {
		node := &groupNode{name: name}
		inv.groups[name] = node
		inv.groupList = append(inv.groupList, node)
	}
	directGroups := make(map[string][]string, len(b.hosts))
	for _, name := range b.groupOrder {
		node := inv.groups[name]
		g := b.groups[name]
		for _, child := range g.children {
			node.children = append(node.children, inv.groups[child])
		}
		for _, h := range g.hosts {
			node.hosts = append(node.hosts, inv.hostByName[h])
			directGroups[h] = append(directGroups[h], name)
		}
	}

	ancestors := ancestorSets(b)
	for _, h := range inv.hosts {
		member := map[string]bool{groupAll: true}
		for _, g := range directGroups[h.Name] {
			for _, a := range ancestors[g] {
				member[a] = true
			}
		}
		ranked := sortedKeys(member)
		sort.SliceStable(ranked, func(i, j int) bool { return rank[ranked[i]] < rank[ranked[j]] })
		h.Vars = mergeVars(b, sources, h.Name, ranked)

		delete(member, groupAll)
		h.Groups = sortedKeys(member)
	}

	inv.warnUnselectableNames()
	for _, name := range inv.groupNames {
		if _, ok := inv.hostByName[name]; !ok {
			continue
		}
		if name == groupAll {
			inv.warnings = append(inv.warnings,
				"a host is named all: the host pattern all still selects every host, so rename the host to select it alone")
			continue
		}
		inv.warnings = append(inv.warnings, fmt.Sprintf(
			"a host and a group are both named %s: the host pattern %s selects only the host", name, name))
	}
	return inv, nil
}

// patternSpecial contains the characters that host patterns read as
// separators, operators, globs or subscripts.
const patternSpecial = ",:!&~@*?[] \t"

// warnUnselectableNames warns about groups and hosts whose names contain
// a character that host patterns treat specially, because no pattern
// can then name them. Ansible accepts such names, and warns only about
// group names.
func (inv *Inventory) warnUnselectableNames() {
	check := func(kind, name string) {
		if kind == "host" && isIPv6(name) {
			return // patterns keep an IPv6 address whole
		}
		if i := strings.IndexAny(name, patternSpecial); i >= 0 {
			inv.warnings = append(inv.warnings, fmt.Sprintf(
				"%s name %q contains %q, which host patterns treat specially, so a pattern cannot select it by name; rename the %s",
				kind, name, name[i:i+1], kind))
		}
	}
	for _, name := range inv.groupNames {
		check("group", name)
	}
	for _, h := range inv.hosts {
		check("host", h.Name)
	}
}

// mergeVars merges the variables of a host from lowest to highest
// precedence. groups must be in group order.
func mergeVars(b *builder, sources []*varsSource, host string, groups []string) map[string]any {
	vars := make(map[string]any)
	for _, g := range groups {
		maps.Copy(vars, b.groups[g].vars)
	}
	for _, src := range sources {
		for _, g := range groups {
			maps.Copy(vars, src.groupVars[g])
		}
	}
	maps.Copy(vars, b.hosts[host].vars)
	for _, src := range sources {
		maps.Copy(vars, src.hostVars[host])
	}
	return vars
}

// groupOrder sorts all groups by depth, ansible_group_priority and name,
// the order in which their variables apply.
func groupOrder(b *builder) ([]string, error) {
	depth := b.depths()
	priority := make(map[string]int, len(b.groups))
	for name, g := range b.groups {
		p, err := groupPriority(g)
		if err != nil {
			return nil, err
		}
		priority[name] = p
	}
	order := slices.Clone(b.groupOrder)
	sort.Slice(order, func(i, j int) bool {
		a, c := order[i], order[j]
		if depth[a] != depth[c] {
			return depth[a] < depth[c]
		}
		if priority[a] != priority[c] {
			return priority[a] < priority[c]
		}
		return a < c
	})
	return order, nil
}

// ancestorSets returns, for each group, the group itself and every group
// above it.
func ancestorSets(b *builder) map[string][]string {
	sets := make(map[string][]string, len(b.groups))
	var collect func(name string) []string
	collect = func(name string) []string {
		if s, ok := sets[name]; ok {
			return s
		}
		seen := map[string]bool{name: true}
		for _, p := range b.groups[name].parents {
			for _, a := range collect(p) {
				seen[a] = true
			}
		}
		s := sortedKeys(seen)
		sets[name] = s
		return s
	}
	for _, name := range b.groupOrder {
		collect(name)
	}
	return sets
}

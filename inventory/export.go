package inventory

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

// Redacted replaces the value of a variable that SecretVar matches in
// every output of the inventory.
const Redacted = "<redacted>"

// secretParts are parts of variable names whose values are secrets, as
// in ansible_password, ansible_become_passwd, vault_token, db_secret.
var secretParts = []string{"password", "passwd", "passphrase", "secret", "token", "credential"}

// SecretVar reports whether a variable's value must not be shown. Its
// name is split into words at '_', '-' and '.'. It is secret when a word
// contains password, passwd, passphrase, secret, token or credential,
// when a word is pass (ansible_ssh_pass), or when the last word is or
// ends in key (api_key, apikey). A name that ends in _file, _path or
// _dir names a file instead, so ansible_ssh_private_key_file is shown.
func SecretVar(name string) bool {
	lower := strings.ToLower(name)
	for _, suffix := range []string{"_file", "_path", "_dir"} {
		if strings.HasSuffix(lower, suffix) {
			return false
		}
	}
	words := strings.FieldsFunc(lower, func(r rune) bool { return r == '_' || r == '-' || r == '.' })
	for i, w := range words {
		if w == "pass" {
			return true
		}
		if i == len(words)-1 && strings.HasSuffix(w, "key") {
			return true
		}
		for _, part := range secretParts {
			if strings.Contains(w, part) {
				return true
			}
		}
	}
	return false
}

// redact returns a copy of v in which the value of every map key that
// SecretVar matches is Redacted, at any depth.
func redact(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, val := range t {
			if SecretVar(k) {
				out[k] = Redacted
			} else {
				out[k] = redact(val)
			}
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, val := range t {
			out[i] = redact(val)
		}
		return out
	}
	return v
}

// GroupChildren returns the names of the groups directly below the group
// name, sorted. Every group without a parent is a child of all.
func (inv *Inventory) GroupChildren(name string) []string {
	g, ok := inv.groups[name]
	if !ok {
		return nil
	}
	out := make([]string, 0, len(g.children))
	for _, c := range g.children {
		out = append(out, c.name)
	}
	sort.Strings(out)
	return out
}

// GroupHosts returns the hosts declared directly in the group name, in
// declaration order. Hosts in a child group are not included.
func (inv *Inventory) GroupHosts(name string) []*Host {
	g, ok := inv.groups[name]
	if !ok {
		return nil
	}
	return slices.Clone(g.hosts)
}

// view is the part of the group tree that contains selected hosts.
type view struct {
	inv      *Inventory
	selected map[*Host]bool
	// shown caches whether a group has a selected host at any depth.
	shown map[string]bool
}

func newView(inv *Inventory, selected []*Host) *view {
	v := &view{inv: inv, selected: map[*Host]bool{}, shown: map[string]bool{}}
	for _, h := range selected {
		v.selected[h] = true
	}
	return v
}

func (v *view) show(group string) bool {
	if s, ok := v.shown[group]; ok {
		return s
	}
	g := v.inv.groups[group]
	s := false
	for _, h := range g.members() {
		if v.selected[h] {
			s = true
			break
		}
	}
	v.shown[group] = s
	return s
}

// children returns the shown child groups of group, sorted by name.
func (v *view) children(group string) []string {
	var out []string
	for _, c := range v.inv.GroupChildren(group) {
		if v.show(c) {
			out = append(out, c)
		}
	}
	return out
}

// hosts returns the selected hosts declared directly in group, sorted by
// name. all has none of its own: its hosts are listed under ungrouped or
// their groups, as Ansible lists them.
func (v *view) hosts(group string) []string {
	if group == groupAll {
		return nil
	}
	var out []string
	for _, h := range v.inv.GroupHosts(group) {
		if v.selected[h] {
			out = append(out, h.Name)
		}
	}
	sort.Strings(out)
	return out
}

// ListJSON returns the selected hosts in the JSON shape of
// ansible-inventory --list: an object per group with its hosts and child
// groups, and the merged variables of each host under
// _meta.hostvars. Groups without a selected host at any depth are left
// out, except all. Values of variables that SecretVar matches are
// replaced by Redacted.
func (inv *Inventory) ListJSON(selected []*Host) ([]byte, error) {
	v := newView(inv, selected)
	doc := map[string]any{}
	hostvars := map[string]any{}
	for _, h := range selected {
		hostvars[h.Name] = redact(h.Vars)
	}
	doc["_meta"] = map[string]any{"hostvars": hostvars}
	for _, name := range inv.groupNames {
		if name != groupAll && !v.show(name) {
			continue
		}
		group := map[string]any{}
		if hosts := v.hosts(name); len(hosts) > 0 {
			group["hosts"] = hosts
		}
		if children := v.children(name); len(children) > 0 {
			group["children"] = children
		}
		doc[name] = group
	}
	data, err := json.MarshalIndent(doc, "", "    ")
	if err != nil {
		return nil, fmt.Errorf("encode inventory as JSON: %w", err)
	}
	return append(data, '\n'), nil
}

// WriteGraph writes the tree of groups and selected hosts below the group
// root in the layout of ansible-inventory --graph: "@group:" lines, each
// level indented by "  |", child groups before the group's own hosts,
// both sorted by name. Groups without a selected host are left out.
func (inv *Inventory) WriteGraph(w io.Writer, root string, selected []*Host) error {
	if _, ok := inv.groups[root]; !ok {
		return fmt.Errorf("graph group %q: not found; groups are %s", root, strings.Join(inv.groupNames, ", "))
	}
	v := newView(inv, selected)
	var b strings.Builder
	var walk func(group string, depth int, path map[string]bool)
	walk = func(group string, depth int, path map[string]bool) {
		b.WriteString(graphLine("@"+group+":", depth))
		path[group] = true
		for _, c := range v.children(group) {
			if !path[c] {
				walk(c, depth+1, path)
			}
		}
		delete(path, group)
		for _, h := range v.hosts(group) {
			b.WriteString(graphLine(h, depth+1))
		}
	}
	walk(root, 0, map[string]bool{})
	_, err := io.WriteString(w, b.String())
	return err
}

func graphLine(name string, depth int) string {
	if depth == 0 {
		return name + "\n"
	}
	return strings.Repeat("  |", depth) + "--" + name + "\n"
}

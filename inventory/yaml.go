package inventory

import (
	"strconv"

	"gopkg.in/yaml.v3"
)

// yamlParser reads one YAML inventory file: a mapping of group names to
// groups, where each group may have hosts, vars and children, and each
// child is a group again.
type yamlParser struct {
	file   string
	b      *builder
	values *valueDecoder
	// visited contains the groups already read from a node, so that a node
	// reached again through a YAML alias is read once.
	visited map[groupVisit]bool
}

type groupVisit struct {
	name string
	node *yaml.Node
}

func parseYAMLInventory(file string, doc *yaml.Node) (*builder, error) {
	p := &yamlParser{
		file:    file,
		b:       newBuilder(),
		values:  newValueDecoder(file),
		visited: make(map[groupVisit]bool),
	}
	if len(doc.Content) == 0 {
		return nil, &ParseError{File: file, Msg: "the YAML document is empty: add an all: group with hosts"}
	}
	root := resolveAlias(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil, p.at(root).errorf("a YAML inventory must be a mapping of group names, got %s", kindOf(root))
	}
	pairs, err := p.pairs(root)
	if err != nil {
		return nil, err
	}
	for _, kv := range pairs {
		if err := p.group(kv.key.Value, kv.value, "", kv.key); err != nil {
			return nil, err
		}
	}
	return p.b, nil
}

// isGroupMapping reports whether doc is a mapping whose values are all
// empty or mappings, which is how a YAML inventory looks at the top.
func isGroupMapping(doc *yaml.Node) bool {
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return false
	}
	root := resolveAlias(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return false
	}
	for i := 1; i < len(root.Content); i += 2 {
		v := resolveAlias(root.Content[i])
		if !isNull(v) && v.Kind != yaml.MappingNode {
			return false
		}
	}
	return true
}

func (p *yamlParser) at(n *yaml.Node) position {
	return position{file: p.file, line: n.Line, column: n.Column}
}

type keyValue struct {
	key, value *yaml.Node
}

// pairs returns the entries of a mapping that describes inventory
// structure. Keys must be plain scalars and appear once.
func (p *yamlParser) pairs(m *yaml.Node) ([]keyValue, error) {
	pairs := make([]keyValue, 0, len(m.Content)/2)
	firstLine := make(map[string]int, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		key := resolveAlias(m.Content[i])
		if key.Kind != yaml.ScalarNode {
			return nil, p.at(key).errorf("invalid key: expected a name, got %s", kindOf(key))
		}
		if key.ShortTag() == "!!merge" {
			return nil, p.at(key).errorf("merge keys (<<) are supported only inside vars and host variables; write the groups and hosts out")
		}
		if line, ok := firstLine[key.Value]; ok {
			return nil, p.at(key).errorf("duplicate key %q: it is first defined at line %d", key.Value, line)
		}
		firstLine[key.Value] = key.Line
		pairs = append(pairs, keyValue{key: key, value: m.Content[i+1]})
	}
	return pairs, nil
}

// group reads a group and, when parent is not empty, links it as a child
// of parent. key is the node that names the group.
func (p *yamlParser) group(name string, node *yaml.Node, parent string, key *yaml.Node) error {
	if name == "" {
		return p.at(key).errorf("group name is empty")
	}
	if parent == "" {
		p.b.group(name)
	} else if err := p.b.addChild(parent, name, p.at(key)); err != nil {
		return err
	}

	node = resolveAlias(node)
	if isNull(node) {
		return nil
	}
	visit := groupVisit{name: name, node: node}
	if p.visited[visit] {
		return nil
	}
	p.visited[visit] = true

	if node.Kind != yaml.MappingNode {
		return p.at(node).errorf("group %s must be a mapping with hosts, vars or children, got %s", name, kindOf(node))
	}
	pairs, err := p.pairs(node)
	if err != nil {
		return err
	}
	for _, kv := range pairs {
		var err error
		switch kv.key.Value {
		case "hosts":
			err = p.hosts(name, kv.value)
		case "vars":
			err = p.groupVars(name, kv.value)
		case "children":
			err = p.children(name, kv.value)
		default:
			err = p.at(kv.key).errorf("unknown key %q in group %s: allowed keys are hosts, vars and children", kv.key.Value, name)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (p *yamlParser) hosts(groupName string, node *yaml.Node) error {
	node = resolveAlias(node)
	switch {
	case isNull(node):
		return nil
	case node.Kind == yaml.ScalarNode && node.ShortTag() == "!!str":
		// Ansible also accepts a single host written as a string.
		return p.hostEntry(groupName, node, nil)
	case node.Kind != yaml.MappingNode:
		return p.at(node).errorf("hosts of group %s must be a mapping of host names, got %s; write each host as \"name:\" on a line of its own",
			groupName, kindOf(node))
	}

	pairs, err := p.pairs(node)
	if err != nil {
		return err
	}
	for _, kv := range pairs {
		value := resolveAlias(kv.value)
		var vars map[string]any
		switch {
		case isNull(value):
		case value.Kind == yaml.MappingNode:
			if vars, err = p.values.mapping(value); err != nil {
				return err
			}
		default:
			return p.at(value).errorf("host %s in group %s must have a mapping of variables or nothing, got %s",
				kv.key.Value, groupName, kindOf(value))
		}
		if err := p.hostEntry(groupName, kv.key, vars); err != nil {
			return err
		}
	}
	return nil
}

func (p *yamlParser) hostEntry(groupName string, key *yaml.Node, vars map[string]any) error {
	names, port, err := hostEntryNames(key.Value)
	if err != nil {
		return p.at(key).errorf("%v", err)
	}
	if port != 0 {
		// Variables written for the host override the port in its
		// name, as in Ansible.
		withPort := map[string]any{"ansible_port": port}
		for k, v := range vars {
			withPort[k] = v
		}
		vars = withPort
	}
	for _, name := range names {
		p.b.addHost(groupName, name, vars)
	}
	return nil
}

func (p *yamlParser) groupVars(groupName string, node *yaml.Node) error {
	node = resolveAlias(node)
	if isNull(node) {
		return nil
	}
	if node.Kind != yaml.MappingNode {
		return p.at(node).errorf("vars of group %s must be a mapping of variable names to values, got %s", groupName, kindOf(node))
	}
	vars, err := p.values.mapping(node)
	if err != nil {
		return err
	}
	g := p.b.group(groupName)
	for k, v := range vars {
		g.vars[k] = v
	}
	return nil
}

func (p *yamlParser) children(parent string, node *yaml.Node) error {
	node = resolveAlias(node)
	switch {
	case isNull(node):
		return nil
	case node.Kind == yaml.ScalarNode && node.ShortTag() == "!!str":
		// Ansible also accepts a single child written as a string.
		return p.group(node.Value, nil, parent, node)
	case node.Kind != yaml.MappingNode:
		return p.at(node).errorf("children of group %s must be a mapping of group names, got %s", parent, kindOf(node))
	}
	pairs, err := p.pairs(node)
	if err != nil {
		return err
	}
	for _, kv := range pairs {
		if err := p.group(kv.key.Value, kv.value, parent, kv.key); err != nil {
			return err
		}
	}
	return nil
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// kindOf names the YAML type of a node for error messages.
func kindOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a sequence"
	case yaml.DocumentNode:
		return "a document"
	}
	switch n.ShortTag() {
	case "!!int", "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "null"
	}
	return "a string"
}

// valueDecoder turns YAML variable values into Go values: string, int,
// float64, bool, nil, []any and map[string]any.
//
// Scalars are read as PyYAML reads them in Ansible where that differs
// from yaml.v3. Plain yes/no/on/off in any of their three spellings are
// booleans, as in YAML 1.1. Timestamps stay text. A value with an
// application tag, such as Ansible's !vault or !unsafe, keeps its text.
type valueDecoder struct {
	file string
	// anchored contains the value of each anchored node once decoded, so
	// that aliases cost nothing and cannot blow up exponentially.
	anchored map[*yaml.Node]any
	active   map[*yaml.Node]bool
}

func newValueDecoder(file string) *valueDecoder {
	return &valueDecoder{
		file:     file,
		anchored: make(map[*yaml.Node]any),
		active:   make(map[*yaml.Node]bool),
	}
}

func (d *valueDecoder) at(n *yaml.Node) position {
	return position{file: d.file, line: n.Line, column: n.Column}
}

func (d *valueDecoder) value(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return d.value(n.Content[0])
	case yaml.AliasNode:
		return d.value(n.Alias)
	}

	if n.Anchor != "" {
		if v, ok := d.anchored[n]; ok {
			return v, nil
		}
		if d.active[n] {
			return nil, d.at(n).errorf("anchor %s contains an alias to itself", n.Anchor)
		}
		d.active[n] = true
		defer delete(d.active, n)
	}

	var v any
	var err error
	switch n.Kind {
	case yaml.ScalarNode:
		v, err = d.scalar(n)
	case yaml.SequenceNode:
		v, err = d.sequence(n)
	case yaml.MappingNode:
		v, err = d.mapping(n)
	}
	if err != nil {
		return nil, err
	}
	if n.Anchor != "" {
		d.anchored[n] = v
	}
	return v, nil
}

const notPlainStyle = yaml.TaggedStyle | yaml.DoubleQuotedStyle | yaml.SingleQuotedStyle | yaml.LiteralStyle | yaml.FoldedStyle

func (d *valueDecoder) scalar(n *yaml.Node) (any, error) {
	tag := n.ShortTag()
	switch tag {
	case "!!str":
		if n.Style&notPlainStyle == 0 {
			switch n.Value {
			case "yes", "Yes", "YES", "on", "On", "ON":
				return true, nil
			case "no", "No", "NO", "off", "Off", "OFF":
				return false, nil
			}
		}
		return n.Value, nil
	case "!!null":
		return nil, nil
	case "!!int":
		if i, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			return int(i), nil
		}
	case "!!bool", "!!float", "!!binary":
	default:
		return n.Value, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, d.at(n).errorf("invalid %s value: %v", tag, err)
	}
	return v, nil
}

func (d *valueDecoder) sequence(n *yaml.Node) ([]any, error) {
	items := make([]any, 0, len(n.Content))
	for _, item := range n.Content {
		v, err := d.value(item)
		if err != nil {
			return nil, err
		}
		items = append(items, v)
	}
	return items, nil
}

// mapping decodes a mapping of variables. Keys must be scalars and
// appear once. Merge keys (<<) add the keys of the mappings they refer
// to unless the mapping sets them itself, and an earlier merged mapping
// wins over a later one.
func (d *valueDecoder) mapping(n *yaml.Node) (map[string]any, error) {
	out := make(map[string]any, len(n.Content)/2)
	firstLine := make(map[string]int, len(n.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := resolveAlias(n.Content[i])
		if key.Kind != yaml.ScalarNode {
			return nil, d.at(key).errorf("invalid variable name: expected a string, got %s", kindOf(key))
		}
		if key.ShortTag() == "!!merge" {
			merges = append(merges, n.Content[i+1])
			continue
		}
		if line, ok := firstLine[key.Value]; ok {
			return nil, d.at(key).errorf("duplicate key %q: it is first defined at line %d", key.Value, line)
		}
		firstLine[key.Value] = key.Line
		v, err := d.value(n.Content[i+1])
		if err != nil {
			return nil, err
		}
		out[key.Value] = v
	}

	for _, merge := range merges {
		merge = resolveAlias(merge)
		sources := []*yaml.Node{merge}
		if merge.Kind == yaml.SequenceNode {
			sources = merge.Content
		}
		for _, src := range sources {
			v, err := d.value(src)
			if err != nil {
				return nil, err
			}
			m, ok := v.(map[string]any)
			if !ok {
				return nil, d.at(src).errorf("a merge key (<<) must refer to a mapping, got %s", kindOf(resolveAlias(src)))
			}
			for k, v := range m {
				if _, ok := out[k]; !ok {
					out[k] = v
				}
			}
		}
	}
	return out, nil
}

package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// varsSource contains the variables that the host_vars and group_vars
// folders beside one inventory path set, by host and group name.
type varsSource struct {
	groupVars map[string]map[string]any
	hostVars  map[string]map[string]any
}

// varsExtensions are the suffixes, in lookup order, that Ansible tries
// after a host or group name in host_vars and group_vars.
var varsExtensions = []string{"", ".yml", ".yaml", ".json"}

// varsFiles reads dir/group_vars and dir/host_vars for the groups and
// hosts of the inventory. A folder shared by several inventory paths is
// read once.
func (l *loader) varsFiles(dir string) (*varsSource, error) {
	if src, ok := l.varsByDir[dir]; ok {
		return src, nil
	}
	groupVars, err := l.varsFolder(filepath.Join(dir, "group_vars"), "group", l.main.hasGroup)
	if err != nil {
		return nil, err
	}
	hostVars, err := l.varsFolder(filepath.Join(dir, "host_vars"), "host", func(name string) bool {
		_, ok := l.main.hosts[name]
		return ok
	})
	if err != nil {
		return nil, err
	}
	src := &varsSource{groupVars: groupVars, hostVars: hostVars}
	l.varsByDir[dir] = src
	return src, nil
}

// varsFolder reads the variables files in folder for each host or group
// name for which exists returns true. As in Ansible, only the first of NAME, NAME.yml,
// NAME.yaml and NAME.json that exists is read, and NAME may be a folder
// of such files.
func (l *loader) varsFolder(folder, kind string, exists func(string) bool) (map[string]map[string]any, error) {
	info, err := os.Stat(folder)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s variables: %w", kind, err)
	}
	if !info.IsDir() {
		l.warn("%s is not a folder, so its variables are not read", folder)
		return nil, nil
	}
	entries, err := os.ReadDir(folder)
	if err != nil {
		return nil, fmt.Errorf("read %s variables: %w", kind, err)
	}

	present := make(map[string]bool, len(entries))
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, ".") && !strings.HasSuffix(name, "~") {
			present[name] = true
		}
	}

	vars := make(map[string]map[string]any)
	used := make(map[string]string) // entry name -> name of the entry read instead, or itself
	for _, entry := range sortedKeys(present) {
		name := varsEntryName(entry)
		if !exists(name) {
			// A name with a dot, such as a host named db.json, may
			// also be the whole entry name.
			name = entry
		}
		if !exists(name) {
			l.warn("%s matches no %s in the inventory, so its variables are not used", filepath.Join(folder, entry), kind)
			continue
		}
		if _, done := vars[name]; done {
			continue
		}
		for _, ext := range varsExtensions {
			if !present[name+ext] {
				continue
			}
			v, err := l.readVarsEntry(filepath.Join(folder, name+ext))
			if err != nil {
				return nil, err
			}
			vars[name] = v
			for _, other := range varsExtensions {
				if present[name+other] {
					used[name+other] = name + ext
				}
			}
			break
		}
	}
	for _, entry := range sortedKeys(used) {
		if chosen := used[entry]; chosen != entry {
			l.warn("%s is not read because %s exists: Ansible reads only the first of NAME, NAME.yml, NAME.yaml and NAME.json",
				filepath.Join(folder, entry), filepath.Join(folder, chosen))
		}
	}
	return vars, nil
}

// varsEntryName returns the host or group name that a variables entry is
// for: the entry name without a .yml, .yaml or .json suffix.
func varsEntryName(entry string) string {
	for _, ext := range varsExtensions[1:] {
		if name, ok := strings.CutSuffix(entry, ext); ok && name != "" {
			return name
		}
	}
	return entry
}

// readVarsEntry reads a variables file, or every variables file below a
// folder in name order, later files replacing variables of earlier ones.
func (l *loader) readVarsEntry(path string) (map[string]any, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read variables: %w", err)
	}
	if !info.IsDir() {
		return l.readVarsFile(path)
	}

	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("read variables: %w", err)
	}
	merged := make(map[string]any)
	for _, e := range entries {
		name := e.Name()
		ext := filepath.Ext(name)
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") {
			continue
		}
		if ext != "" && ext != ".yml" && ext != ".yaml" && ext != ".json" {
			continue
		}
		vars, err := l.readVarsEntry(filepath.Join(path, name))
		if err != nil {
			return nil, err
		}
		for k, v := range vars {
			merged[k] = v
		}
	}
	return merged, nil
}

func (l *loader) readVarsFile(path string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read variables: %w", err)
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if bytes.HasPrefix(data, []byte("$ANSIBLE_VAULT;")) {
		l.warn("%s is encrypted with Ansible Vault, which regtrust cannot decrypt, so its variables are not used", path)
		return nil, nil
	}

	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlSyntaxError(path, data, err)
	}
	if len(doc.Content) == 0 {
		return nil, nil // an empty file sets nothing
	}
	root := resolveAlias(doc.Content[0])
	if isNull(root) {
		return nil, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, position{file: path, line: root.Line, column: root.Column}.errorf(
			"a variables file must be a mapping of variable names to values, got %s", kindOf(root))
	}
	return newValueDecoder(path).mapping(root)
}

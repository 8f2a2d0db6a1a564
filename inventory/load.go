package inventory

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads inventories from paths in order and merges them, as
// several -i options do in Ansible. Each path is a YAML or INI inventory
// file or a folder of them. Later paths add hosts and groups and replace
// variables that earlier paths set.
//
// A file is YAML when it parses as a YAML mapping whose values are
// groups, and INI otherwise. A folder is read recursively in name order,
// skipping hidden entries, host_vars, group_vars, vars_plugins and files
// that Ansible ignores by extension (.bak, .cfg, .md, .orig, .pyc, .pyo,
// .retry, .rpm, .rst, .swp, .txt and names ending in ~).
//
// An empty file, a file encrypted with Ansible Vault and a script (a
// file that starts with #!) are errors. Errors name the file and, where known,
// the line and column as a *ParseError.
func Load(paths ...string) (*Inventory, error) {
	if len(paths) == 0 {
		return nil, errors.New("load inventory: no inventory path given")
	}
	l := newLoader()
	for _, path := range paths {
		if err := l.loadPath(path); err != nil {
			return nil, err
		}
	}
	return l.finish()
}

// loader contains the state of one Load call.
type loader struct {
	main *builder
	// sourceDirs contains, per path given to Load, the folder whose
	// host_vars and group_vars belong to it.
	sourceDirs []string
	varsByDir  map[string]*varsSource
	warnings   []string
}

func newLoader() *loader {
	l := &loader{main: newBuilder(), varsByDir: make(map[string]*varsSource)}
	l.main.group(groupAll)
	l.main.group(groupUngrouped)
	return l
}

// finish completes the group tree, reads the variables files of every
// source and computes the inventory.
func (l *loader) finish() (*Inventory, error) {
	if err := l.main.reconcile(); err != nil {
		return nil, err
	}
	sources := make([]*varsSource, 0, len(l.sourceDirs))
	for _, dir := range l.sourceDirs {
		src, err := l.varsFiles(dir)
		if err != nil {
			return nil, err
		}
		sources = append(sources, src)
	}
	return newInventory(l.main, sources, l.warnings)
}

func (l *loader) warn(format string, args ...any) {
	l.warnings = append(l.warnings, fmt.Sprintf(format, args...))
}

func (l *loader) loadPath(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("load inventory: %w", err)
	}
	if !info.IsDir() {
		l.sourceDirs = append(l.sourceDirs, filepath.Dir(path))
		return l.loadFile(path)
	}

	l.sourceDirs = append(l.sourceDirs, path)
	files, err := inventoryFiles(path)
	if err != nil {
		return fmt.Errorf("load inventory: %w", err)
	}
	if len(files) == 0 {
		return fmt.Errorf("inventory folder %s contains no inventory files: add a YAML or INI file or fix the path", path)
	}
	for _, file := range files {
		if err := l.loadFile(file); err != nil {
			return err
		}
	}
	return nil
}

// Ansible's default INVENTORY_IGNORE_EXTS, which a folder inventory skips.
var ignoredExtensions = map[string]bool{
	".bak": true, ".cfg": true, ".md": true, ".orig": true, ".pyc": true, ".pyo": true,
	".retry": true, ".rpm": true, ".rst": true, ".swp": true, ".txt": true,
}

// inventoryFiles lists the inventory files below dir in name order.
func inventoryFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") || ignoredExtensions[filepath.Ext(name)] {
			continue
		}
		path := filepath.Join(dir, name)
		info, err := os.Stat(path) // follows links, as Ansible does
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			files = append(files, path)
			continue
		}
		if name == "host_vars" || name == "group_vars" || name == "vars_plugins" {
			continue
		}
		sub, err := inventoryFiles(path)
		if err != nil {
			return nil, err
		}
		files = append(files, sub...)
	}
	return files, nil
}

func (l *loader) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("load inventory: %w", err)
	}
	return l.addData(path, data)
}

// addData parses the content of one inventory file and merges it.
func (l *loader) addData(path string, data []byte) error {
	fileBuilder, warnings, err := parseInventory(path, data, l.main.hasGroup)
	if err != nil {
		return err
	}
	l.warnings = append(l.warnings, warnings...)
	l.main.merge(fileBuilder)
	return nil
}

func (b *builder) hasGroup(name string) bool {
	_, ok := b.groups[name]
	return ok
}

// parseInventory detects the format of one inventory file and parses it.
// known reports groups that earlier files declared.
func parseInventory(path string, data []byte, known func(string) bool) (*builder, []string, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // UTF-8 byte order mark
	switch {
	case isBlank(data):
		return nil, nil, fmt.Errorf("inventory %s is empty: add hosts to it or leave it out", path)
	case bytes.HasPrefix(data, []byte("$ANSIBLE_VAULT;")):
		return nil, nil, fmt.Errorf("inventory %s is encrypted with Ansible Vault, which regtrust cannot decrypt: decrypt it with ansible-vault decrypt, or keep only secrets in vault files", path)
	case bytes.HasPrefix(data, []byte("#!")):
		return nil, nil, fmt.Errorf("inventory %s is a script, which regtrust does not run: save its output with ansible-inventory -i %s --list --yaml > inventory.yml and load that file", path, path)
	}

	var doc yaml.Node
	yamlErr := yaml.Unmarshal(data, &doc)
	if yamlErr == nil && isGroupMapping(&doc) {
		b, err := parseYAMLInventory(path, &doc)
		return b, nil, err
	}

	b, warnings, iniErr := parseINI(path, data, known)
	if iniErr == nil {
		return b, warnings, nil
	}

	// Neither format fits, so report the error of the format that the
	// file most likely meant to use.
	rootIsMapping := len(doc.Content) > 0 && resolveAlias(doc.Content[0]).Kind == yaml.MappingNode
	if yamlErr == nil && (rootIsMapping || looksLikeYAML(data)) {
		if _, err := parseYAMLInventory(path, &doc); err != nil {
			return nil, nil, err
		}
	}
	if yamlErr != nil && looksLikeYAML(data) {
		return nil, nil, yamlSyntaxError(path, data, yamlErr)
	}
	return nil, nil, iniErr
}

// isBlank reports whether data contains nothing but white space, comments
// and YAML document markers.
func isBlank(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' || line == "---" || line == "..." {
			continue
		}
		return false
	}
	return true
}

// yamlKeyLine matches a line that starts a YAML mapping entry, such as
// "all:" or "web: {hosts: ...}", and no INI host line, section or
// assignment.
var yamlKeyLine = regexp.MustCompile(`^[^\s\[#;=][^=]*:(\s|$)`)

// looksLikeYAML reports whether the first line with content reads as
// YAML rather than INI.
func looksLikeYAML(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		return strings.HasPrefix(trimmed, "---") || strings.HasPrefix(trimmed, "%YAML") ||
			strings.HasPrefix(trimmed, "{") || strings.HasPrefix(trimmed, "- ") ||
			yamlKeyLine.MatchString(line)
	}
	return false
}

var yamlErrorLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlSyntaxError turns a yaml.v3 syntax error into a ParseError with
// the file and line.
func yamlSyntaxError(path string, data []byte, err error) error {
	m := yamlErrorLine.FindStringSubmatch(err.Error())
	if m == nil {
		return &ParseError{File: path, Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	line, _ := strconv.Atoi(m[1])
	msg := "invalid YAML: " + m[2]
	lines := strings.Split(string(data), "\n")
	if line >= 1 && line <= len(lines) {
		text := lines[line-1]
		if indent := text[:len(text)-len(strings.TrimLeft(text, " \t"))]; strings.Contains(indent, "\t") {
			msg += "; indent with spaces, because YAML does not allow tabs there"
		}
	}
	return &ParseError{File: path, Line: line, Msg: msg}
}

// sortedKeys returns the keys of m in sorted order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

package inventory

import (
	"path/filepath"
	"reflect"
	"testing"
)

// treeInventory puts h1 in child, which is below a_parent and b_parent,
// and in z_top. Group order is all, a_parent, b_parent, z_top, child.
const treeInventory = `
all:
  vars: {x: all, y: all, z: all}
  children:
    b_parent:
      vars: {x: b_parent}
      children:
        child:
          vars: {x: child}
          hosts:
            h1:
    a_parent:
      vars: {x: a_parent, y: a_parent}
      children:
        child:
    z_top:
      vars: {y: z_top}
      hosts:
        h1:
`

func TestVariablePrecedence(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		paths []string // relative to the temporary folder
		want  map[string]any
	}{
		{
			name:  "deeper-group-wins-then-name-order",
			files: map[string]string{"inv/hosts.yml": treeInventory},
			paths: []string{"inv/hosts.yml"},
			want:  map[string]any{"x": "child", "y": "z_top", "z": "all"},
		},
		{
			name: "group-priority-reorders-same-depth",
			files: map[string]string{"inv/hosts.yml": treeInventory + `
a_parent:
  vars: {ansible_group_priority: 10}
`},
			paths: []string{"inv/hosts.yml"},
			want:  map[string]any{"x": "child", "y": "a_parent", "z": "all", "ansible_group_priority": 10},
		},
		{
			name: "group-vars-all-file-beats-inventory-child-vars",
			files: map[string]string{
				"inv/hosts.yml":          treeInventory,
				"inv/group_vars/all.yml": "x: all-file\n",
			},
			paths: []string{"inv/hosts.yml"},
			want:  map[string]any{"x": "all-file", "y": "z_top", "z": "all"},
		},
		{
			name: "group-vars-files-in-group-order",
			files: map[string]string{
				"inv/hosts.yml":               treeInventory,
				"inv/group_vars/all.yml":      "x: all-file\nz: all-file\n",
				"inv/group_vars/child.yml":    "x: child-file\n",
				"inv/group_vars/a_parent.yml": "z: a_parent-file\n",
			},
			paths: []string{"inv/hosts.yml"},
			want:  map[string]any{"x": "child-file", "y": "z_top", "z": "a_parent-file"},
		},
		{
			name: "inventory-host-var-beats-group-vars-file",
			files: map[string]string{
				"inv/hosts.yml":            treeInventory + "    extra:\n      hosts:\n        h1: {x: host}\n",
				"inv/group_vars/child.yml": "x: child-file\n",
			},
			paths: []string{"inv/hosts.yml"},
			want:  map[string]any{"x": "host", "y": "z_top", "z": "all"},
		},
		{
			name: "host-vars-file-beats-inventory-host-var",
			files: map[string]string{
				"inv/hosts.yml":      treeInventory + "    extra:\n      hosts:\n        h1: {x: host, y: host}\n",
				"inv/host_vars/h1":   "x: host-file\n",
				"other/host_vars/h1": "y: other-host-file\n",
				"other/extra.ini":    "[extra]\nh1\n",
			},
			paths: []string{"inv/hosts.yml", "other/extra.ini"},
			want:  map[string]any{"x": "host-file", "y": "other-host-file", "z": "all"},
		},
		{
			name: "later-path-group-vars-win-over-earlier",
			files: map[string]string{
				"inv/hosts.yml":              treeInventory,
				"inv/group_vars/child.yml":   "x: first-path-child\n",
				"other/extra.ini":            "[extra]\nh1\n",
				"other/group_vars/all.yml":   "x: second-path-all\n",
				"other/group_vars/extra.yml": "y: second-path-extra\n",
			},
			paths: []string{"inv/hosts.yml", "other/extra.ini"},
			want:  map[string]any{"x": "second-path-all", "y": "second-path-extra", "z": "all"},
		},
		{
			name: "later-inventory-file-replaces-group-var",
			files: map[string]string{
				"inv/hosts.yml":   treeInventory,
				"other/extra.ini": "[z_top:vars]\ny=replaced\n",
			},
			paths: []string{"inv/hosts.yml", "other/extra.ini"},
			want:  map[string]any{"x": "child", "y": "replaced", "z": "all"},
		},
		{
			name: "variables-replace-whole-maps",
			files: map[string]string{
				"inv/hosts.yml":        "all:\n  vars:\n    docker: {log: json, mtu: 1500}\n  hosts:\n    h1:\n",
				"inv/host_vars/h1.yml": "docker: {mtu: 1400}\n",
			},
			paths: []string{"inv/hosts.yml"},
			want:  map[string]any{"docker": map[string]any{"mtu": 1400}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeFiles(t, tt.files)
			var paths []string
			for _, p := range tt.paths {
				paths = append(paths, filepath.Join(dir, p))
			}
			h := mustHost(t, mustLoad(t, paths...), "h1")
			if !reflect.DeepEqual(h.Vars, tt.want) {
				t.Errorf("Vars = %#v; want %#v", h.Vars, tt.want)
			}
		})
	}
}

func TestGroupPriorityInvalid(t *testing.T) {
	dir := writeFiles(t, map[string]string{"hosts.ini": "[web]\nh1\n\n[web:vars]\nansible_group_priority=high\n"})
	_, err := Load(filepath.Join(dir, "hosts.ini"))
	want := "group web: invalid ansible_group_priority high: set a whole number"
	if err == nil || err.Error() != want {
		t.Errorf("Load error = %v; want %s", err, want)
	}
}

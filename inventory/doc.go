// Package inventory reads Ansible inventories: hosts, groups, variables
// and the SSH connection settings of each host.
//
// Load accepts the static formats that Ansible's yaml and ini inventory
// plugins read, one or more paths given in order, each a file or a folder
// of files. The format of each file is detected from its content. Beside
// each path, host_vars/ and group_vars/ folders are read as Ansible's
// host_group_vars plugin reads them.
//
// # Variable precedence
//
// Host.Vars merges these layers, lowest precedence first. A later layer
// replaces a variable of an earlier one as a whole, so maps are not merged
// key by key (Ansible's default hash_behaviour=replace).
//
//  1. Group variables from inventory files (the vars: of a YAML group,
//     [group:vars] in INI), one group after another in group order.
//  2. group_vars/ files, one inventory path after another in the order
//     given to Load, and within a path in group order.
//  3. Host variables from inventory files (the host's mapping in YAML,
//     key=value on an INI host line, and a port written as host:port).
//  4. host_vars/ files, one inventory path after another.
//
// Group order puts a group before every group below it: "all" first,
// then groups sorted by depth (the longest chain of parents from "all"),
// then by ansible_group_priority (default 1), then by name. This is the
// order of Ansible 2.x's VariableManager with its default
// VARIABLE_PRECEDENCE, so group_vars/ files override group variables
// written in inventory files at any depth. When several inventory files
// set the same variable of the same group or host, the file given later
// wins.
//
// # Host patterns
//
// Select reads Ansible host patterns such as "webservers:&prod:!web3" and
// returns hosts in inventory order. Parts that match nothing are not an
// error, as in Ansible; Unmatched lists them so that a caller can warn.
package inventory

package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/regtrust/regtrust/inventory"
)

// inventoryCommand shows what an inventory and a host pattern select:
// host names one a line, --list as ansible-inventory's JSON, or --graph
// as its tree.
func inventoryCommand(args []string, stdout, stderr io.Writer) int {
	var (
		inventories stringList
		limit       string
		list, graph bool
		shard       shardFlag
	)
	fs := flag.NewFlagSet("regtrust inventory", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&inventories, "i", "inventory `FILE` or folder in Ansible YAML or INI format; repeat to merge several")
	fs.Var(&inventories, "inventory", "same as -i")
	fs.StringVar(&limit, "limit", "", "show only hosts that match this host `PATTERN`")
	fs.BoolVar(&list, "list", false, "print groups, hosts and merged host variables as JSON, as ansible-inventory --list does (secret values redacted)")
	fs.BoolVar(&graph, "graph", false, "print the tree of groups and hosts below GROUP (default all), as ansible-inventory --graph does")
	fs.Var(&shard, "shard", "show only share `K/N` of the hosts (K from 0 to N-1), as run --shard selects it")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: regtrust inventory -i INVENTORY [--limit PATTERN] [--shard K/N] [--list | --graph [GROUP]]\n\nWithout --list or --graph, prints the selected host names, one a line.\n\nOptions:")
		fs.PrintDefaults()
	}
	positional, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		return exitError
	}
	if len(inventories) == 0 {
		fmt.Fprintln(stderr, "regtrust inventory: no inventory given; add -i INVENTORY")
		return exitError
	}
	if list && graph {
		fmt.Fprintln(stderr, "regtrust inventory: give --list or --graph, not both")
		return exitError
	}
	root := "all"
	switch {
	case graph && len(positional) == 1:
		root = positional[0]
	case len(positional) > 0:
		fmt.Fprintf(stderr, "regtrust inventory: unexpected argument %q; only --graph takes a GROUP\n", positional[0])
		return exitError
	}

	inv, err := inventory.Load(inventories...)
	if err != nil {
		fmt.Fprintf(stderr, "regtrust: %v\n", err)
		return exitError
	}
	for _, w := range inv.Warnings() {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	hosts := inv.Hosts()
	if limit != "" {
		if hosts, err = inv.Select(limit); err != nil {
			fmt.Fprintf(stderr, "regtrust: --limit: %v\n", err)
			return exitError
		}
		for _, u := range inv.Unmatched(limit) {
			fmt.Fprintf(stderr, "warning: --limit: %q matches no host or group\n", u)
		}
	}
	hosts = inventory.SelectShard(hosts, shard.Shard)

	switch {
	case list:
		data, err := inv.ListJSON(hosts)
		if err != nil {
			fmt.Fprintf(stderr, "regtrust: %v\n", err)
			return exitError
		}
		stdout.Write(data)
	case graph:
		if err := inv.WriteGraph(stdout, root, hosts); err != nil {
			fmt.Fprintf(stderr, "regtrust: %v\n", err)
			return exitError
		}
	default:
		for _, h := range hosts {
			fmt.Fprintln(stdout, h.Name)
		}
	}
	return exitOK
}

// shardFlag is --shard K/N.
type shardFlag struct{ inventory.Shard }

func (s *shardFlag) String() string { return s.Shard.String() }

func (s *shardFlag) Set(v string) error {
	shard, err := inventory.ParseShard(v)
	if err != nil {
		return err
	}
	s.Shard = shard
	return nil
}

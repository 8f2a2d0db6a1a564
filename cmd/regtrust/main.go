// Command regtrust makes Docker hosts trust private container registries.
// It reads a playbook and an Ansible-style inventory and connects to each
// host over SSH. There it places CA certificates in Docker's certs.d folder
// or the OS trust store, and edits insecure-registries in daemon.json. It
// restarts or reloads dockerd only where a change needs it.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	drain, stop := drainOnInterrupt(os.Stderr)
	defer stop()
	os.Exit(run(context.Background(), drain, os.Args[1:], os.Stdout, os.Stderr))
}

// drainOnInterrupt returns a channel that the first SIGINT or SIGTERM
// closes: no new host is started and the hosts in progress finish, each
// write on them landing whole or not at all. A second signal exits at
// once with status 130; a write cut short then leaves only a temporary
// file, which the next run removes.
func drainOnInterrupt(stderr io.Writer) (<-chan struct{}, func()) {
	drain := make(chan struct{})
	done := make(chan struct{})
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-sigs:
		case <-done:
			return
		}
		fmt.Fprintln(stderr, "interrupted: starting no more hosts and finishing the hosts in progress; interrupt again to exit now")
		close(drain)
		select {
		case <-sigs:
		case <-done:
			return
		}
		fmt.Fprintln(stderr, "interrupted again: exiting")
		os.Exit(130)
	}()
	return drain, func() {
		signal.Stop(sigs)
		close(done)
	}
}

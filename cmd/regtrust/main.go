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
	ctx, stop := interruptContext(os.Stderr)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// interruptContext returns a context that the first SIGINT or SIGTERM
// cancels, so no new host is started and running hosts stop at their next
// step. A second signal exits at once with status 130.
func interruptContext(stderr io.Writer) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case <-sigs:
		case <-ctx.Done():
			return
		}
		fmt.Fprintln(stderr, "interrupted: finishing the hosts in progress; interrupt again to exit now")
		cancel()
		<-sigs
		fmt.Fprintln(stderr, "interrupted again: exiting")
		os.Exit(130)
	}()
	return ctx, func() {
		signal.Stop(sigs)
		cancel()
	}
}

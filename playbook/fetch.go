package playbook

import (
	"context"
	"fmt"

	"github.com/regtrust/regtrust/internal/certs"
	"github.com/regtrust/regtrust/tasks"
)

// FetchedChain is a registry's certificate chain as FetchChain read it.
type FetchedChain struct {
	*certs.Chain
	// Warnings are the chain's own warnings followed by those about
	// certificates that expire within the options' window.
	Warnings []string
}

// FetchChain reads the certificate chain that the registry at address
// sends and picks the CA to trust, as fetch_ca does, without changing any
// host. With via, the connection goes through that inventory host's SSH
// connection, so opts needs the inventory and the SSH options then.
func FetchChain(ctx context.Context, address, via string, opts Options) (*FetchedChain, error) {
	if err := tasks.ValidateAddress(address); err != nil {
		return nil, err
	}
	dial := opts.FetchDial
	if via != "" {
		conns := newConnPool(opts.dialer())
		defer conns.closeAll()
		var err error
		if dial, err = viaDialer(ctx, via, &opts, conns); err != nil {
			return nil, err
		}
	}
	chain, err := certs.Fetch(ctx, address, dial)
	if err != nil {
		if via != "" {
			return nil, fmt.Errorf("through %s: %w", via, err)
		}
		return nil, err
	}
	warnings := append([]string{}, chain.Warnings...)
	warnings = append(warnings, tasks.ExpiryWarnings([]certs.CA{chain.CA}, chain.Certs[0], opts.now(), opts.expiryWindow())...)
	return &FetchedChain{Chain: chain, Warnings: warnings}, nil
}

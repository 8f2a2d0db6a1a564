package playbook

import (
	"context"
	"sync"

	"github.com/regtrust/regtrust/internal/sshx"
)

// connPool keeps a run to one SSH connection per host. A connection that
// fetching a CA through a host opened before the hosts start is kept
// here until that host's own run takes it over.
type connPool struct {
	dial DialFunc

	mu    sync.Mutex
	conns map[string]HostConn
}

func newConnPool(dial DialFunc) *connPool {
	return &connPool{dial: dial, conns: map[string]HostConn{}}
}

// open returns the pool's connection to host name, dialling it with cfg
// the first time. The connection stays in the pool.
func (p *connPool) open(ctx context.Context, name string, cfg sshx.Config) (HostConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[name]; ok {
		return c, nil
	}
	c, err := p.dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	p.conns[name] = c
	return c, nil
}

// take removes the connection to host name from the pool, or dials a new
// one, and hands it to the caller, who closes it.
func (p *connPool) take(ctx context.Context, name string, cfg sshx.Config) (HostConn, error) {
	p.mu.Lock()
	c, ok := p.conns[name]
	delete(p.conns, name)
	p.mu.Unlock()
	if ok {
		return c, nil
	}
	return p.dial(ctx, cfg)
}

// closeAll closes the connections no host took, those of via hosts that
// no play selects.
func (p *connPool) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, c := range p.conns {
		c.Close()
		delete(p.conns, name)
	}
}

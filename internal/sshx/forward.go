package sshx

import (
	"context"
	"fmt"
	"net"
	"strings"
)

// Dial opens a TCP connection to addr from the host's side: the server
// connects to addr and relays the stream through a direct-tcpip channel
// of this SSH connection. Names in addr resolve on the host, so a service
// that only the host can reach or resolve is reachable this way. network
// must be "tcp", "tcp4" or "tcp6".
//
// OpenSSH's sshd refuses the channel when its AllowTcpForwarding setting
// is "no" or "remote", or when PermitOpen excludes addr.
func (c *Client) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("dial %s through %s: network %q is not supported; use tcp", addr, c.addr, network)
	}
	conn, err := c.conn.DialContext(ctx, network, addr)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("dial %s through %s: %w", addr, c.addr, ctxErr)
		}
		if strings.Contains(err.Error(), "administratively prohibited") {
			return nil, fmt.Errorf("dial %s through %s: the SSH server forbids TCP forwarding; allow it with AllowTcpForwarding local (or yes) in its sshd_config: %w", addr, c.addr, err)
		}
		return nil, c.connError("dial "+addr, err)
	}
	return conn, nil
}

package lab

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"
)

// defaultSubnetBase is the /16 from which a lab picks its /24 when
// Options.Subnet is empty. Nothing on the machine is expected to use
// it; a /24 that already has a route is skipped.
const defaultSubnetBase = "10.213"

// network is the registry's network namespace and the veth pair that
// joins it to the machine.
type network struct {
	subnet     netip.Prefix
	hostIP     netip.Addr // machine side of the veth, .1
	registryIP netip.Addr // inside the namespace, .2
	netns      string
	veth       string // machine side; the peer is eth0 in the namespace
}

// parseSubnet checks that s is a 10.x.y.0/24 prefix.
func parseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("parse subnet %q: %w (want 10.X.Y.0/24)", s, err)
	}
	if !p.Addr().Is4() || p.Bits() != 24 || p.Masked() != p || p.Addr().As4()[0] != 10 {
		return netip.Prefix{}, fmt.Errorf("invalid subnet %q: want a 10.X.Y.0/24 prefix", s)
	}
	return p, nil
}

// newNetwork derives addresses and names from a subnet. The names
// carry X and Y so that labs on different subnets never collide, and
// they fit Linux's 15-byte interface name limit.
func newNetwork(subnet netip.Prefix) *network {
	a := subnet.Addr().As4()
	host, reg := a, a
	host[3], reg[3] = 1, 2
	tag := fmt.Sprintf("%d-%d", a[1], a[2])
	return &network{
		subnet:     subnet,
		hostIP:     netip.AddrFrom4(host),
		registryIP: netip.AddrFrom4(reg),
		netns:      "rtlab-" + tag,
		veth:       "rtlab-" + tag,
	}
}

// candidateSubnets returns the subnets to try, in order: the one the
// caller asked for, or every 10.213.Y.0/24.
func candidateSubnets(requested string) ([]netip.Prefix, error) {
	if requested != "" {
		p, err := parseSubnet(requested)
		if err != nil {
			return nil, err
		}
		return []netip.Prefix{p}, nil
	}
	var out []netip.Prefix
	for y := 1; y <= 254; y++ {
		out = append(out, netip.MustParsePrefix(fmt.Sprintf("%s.%d.0/24", defaultSubnetBase, y)))
	}
	return out, nil
}

// routedPrefixes parses `ip -4 -o route show table all` output into
// the destination prefixes it names, skipping the default route.
func routedPrefixes(out string) []netip.Prefix {
	var ps []netip.Prefix
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		dst := fields[0]
		// Route types such as "local" or "broadcast" come first.
		if len(fields) > 1 && !strings.ContainsAny(dst, "./") {
			dst = fields[1]
		}
		if dst == "default" {
			continue
		}
		if !strings.Contains(dst, "/") {
			dst += "/32"
		}
		if p, err := netip.ParsePrefix(dst); err == nil {
			ps = append(ps, p)
		}
	}
	return ps
}

func overlapsAny(p netip.Prefix, used []netip.Prefix) bool {
	for _, u := range used {
		if p.Overlaps(u) {
			return true
		}
	}
	return false
}

// vethGoneTimeout bounds the wait for the kernel to remove the machine
// side of the veth after its peer's namespace is deleted.
const vethGoneTimeout = 5 * time.Second

// waitVethGone polls /sys/class/net until the veth is gone or the
// timeout passes.
func (n *network) waitVethGone(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat("/sys/class/net/" + n.veth); errors.Is(err, fs.ErrNotExist) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// errNetnsExists marks a subnet claimed by another lab.
var errNetnsExists = errors.New("network namespace exists")

// claimNetwork picks a subnet and creates its namespace and veth
// pair. Creating the namespace is the claim: `ip netns add` fails when
// the name exists, so two labs starting at once never share a subnet.
// The returned network is set up even when err is non-nil, so the
// caller must still tear it down.
//
// Before it claims, it removes what labs that died without Close left
// behind, and it records the caller as owner of the new network.
func claimNetwork(ctx context.Context, requested, labDir string, log *slog.Logger) (*network, error) {
	candidates, err := candidateSubnets(requested)
	if err != nil {
		return nil, err
	}
	unlock, err := lockClaims()
	if err != nil {
		return nil, err
	}
	defer unlock()
	sweepStale(ctx, log)

	routes, err := run(ctx, "ip", "-4", "-o", "route", "show", "table", "all")
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	used := routedPrefixes(string(routes))
	for _, subnet := range candidates {
		if overlapsAny(subnet, used) {
			if requested != "" {
				return nil, fmt.Errorf("claim subnet %s: it overlaps a route on this machine; choose another Options.Subnet", subnet)
			}
			continue
		}
		n := newNetwork(subnet)
		err := n.addNamespace(ctx)
		if errors.Is(err, errNetnsExists) && requested == "" {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := n.writeOwner(labDir); err != nil {
			return n, err
		}
		return n, n.link(ctx)
	}
	return nil, fmt.Errorf("claim subnet: every %s.Y.0/24 is in use; remove stale rtlab-* network namespaces (ip netns list) or set Options.Subnet", defaultSubnetBase)
}

func (n *network) addNamespace(ctx context.Context) error {
	_, err := run(ctx, "ip", "netns", "add", n.netns)
	if err != nil && strings.Contains(err.Error(), "File exists") {
		return fmt.Errorf("claim subnet %s: %w: %s (another lab uses it, or a stale one: ip netns del %s)", n.subnet, errNetnsExists, n.netns, n.netns)
	}
	return err
}

// link creates the veth pair and brings both ends up.
func (n *network) link(ctx context.Context) error {
	bits := "/" + fmt.Sprint(n.subnet.Bits())
	steps := [][]string{
		{"link", "add", n.veth, "type", "veth", "peer", "name", "eth0", "netns", n.netns},
		{"addr", "add", n.hostIP.String() + bits, "dev", n.veth},
		{"link", "set", n.veth, "up"},
		{"-n", n.netns, "addr", "add", n.registryIP.String() + bits, "dev", "eth0"},
		{"-n", n.netns, "link", "set", "eth0", "up"},
		{"-n", n.netns, "link", "set", "lo", "up"},
	}
	for _, args := range steps {
		if _, err := run(ctx, "ip", args...); err != nil {
			return fmt.Errorf("set up network %s: %w", n.subnet, err)
		}
	}
	return nil
}

// release removes the network while holding the claim lock, so that no
// other lab claims the subnet before its veth is gone.
func (n *network) release(ctx context.Context) error {
	unlock, err := lockClaims()
	if err != nil {
		return err
	}
	defer unlock()
	return n.remove(ctx)
}

// remove deletes the namespace, which destroys eth0 and with it the
// whole veth pair. The kernel removes the machine side shortly after,
// so remove waits for it and deletes it only if it stays. The caller
// must hold the claim lock.
func (n *network) remove(ctx context.Context) error {
	var errs []error
	if _, err := run(ctx, "ip", "netns", "del", n.netns); err != nil && !strings.Contains(err.Error(), "No such file") {
		errs = append(errs, fmt.Errorf("remove network namespace: %w", err))
	}
	if !n.waitVethGone(vethGoneTimeout) {
		_, err := run(ctx, "ip", "link", "del", n.veth)
		if err != nil && !strings.Contains(err.Error(), "Cannot find device") {
			errs = append(errs, fmt.Errorf("remove veth: %w", err))
		}
	}
	if err := os.Remove(n.ownerFile()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove lab owner file: %w", err))
	}
	return errors.Join(errs...)
}

// Package lab runs a realistic test lab on one Linux machine: a private
// registry behind TLS in a network namespace of its own, and Docker
// hosts that are real OpenSSH servers on 127.0.0.1, each in a mount
// namespace of its own, some with their own dockerd.
//
// Each host has a private /etc/docker, trust store folders, /run,
// /var/lib/docker, /var/lib/regtrust, /root and /etc/os-release, so a
// change there is invisible to the other hosts and to the machine.
// Hosts share the machine's network, process table and everything
// else. The registry is reachable only through the lab's veth pair, on
// 10.X.Y.2.
//
// The lab needs root and the programs that Requirements checks. Close
// stops every process the lab started and removes its network and
// folder; it also runs when Start fails halfway.
package lab

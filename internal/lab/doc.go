// Package lab runs a realistic test lab on one Linux machine. A private
// registry serves TLS in a network namespace of its own. Each Docker
// host is a real OpenSSH server on 127.0.0.1 in mount and PID
// namespaces of its own, and some hosts run their own dockerd.
//
// Each host has a private /etc/docker, trust store folders of several OS
// families, /etc/containerd, /etc/containers, /run, /var/lib/docker,
// /var/lib/regtrust, /root, /etc/os-release and /etc/hosts, so a change
// there is invisible to the other hosts and to the machine. It
// sees only its own processes. Hosts share the machine's network and
// every other file. The registry is reachable only through the lab's
// veth pair, on 10.X.Y.2.
//
// The lab needs root and the programs that Requirements checks. Close
// stops every process the lab started and removes its network and
// folder; it also runs when Start fails halfway.
package lab

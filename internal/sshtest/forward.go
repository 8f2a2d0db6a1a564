package sshtest

import (
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"golang.org/x/crypto/ssh"
)

// directTCPIP is the payload of a direct-tcpip channel open (RFC 4254,
// section 7.2).
type directTCPIP struct {
	Host       string
	Port       uint32
	OriginHost string
	OriginPort uint32
}

// serveForward connects to the address a direct-tcpip channel names and
// copies bytes both ways until either side closes. Only loopback
// addresses are dialled, so a test cannot make the server reach out
// beyond the machine.
func (s *Server) serveForward(newChannel ssh.NewChannel) {
	if !s.opts.forwarding && s.opts.forwardHosts == nil {
		newChannel.Reject(ssh.Prohibited, "TCP forwarding is disabled")
		return
	}
	var req directTCPIP
	if err := ssh.Unmarshal(newChannel.ExtraData(), &req); err != nil {
		newChannel.Reject(ssh.ConnectionFailed, "invalid direct-tcpip payload")
		return
	}
	host := req.Host
	if mapped, ok := s.opts.forwardHosts[host]; ok {
		host = mapped
	} else if host == "localhost" {
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsLoopback() {
		newChannel.Reject(ssh.ConnectionFailed, "the test server forwards only to loopback addresses and names given with WithForwardHosts")
		return
	}
	target, err := net.Dial("tcp", net.JoinHostPort(host, strconv.Itoa(int(req.Port))))
	if err != nil {
		newChannel.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	// Tracking the target lets close end a copy that would otherwise
	// wait for the target to speak.
	if !s.track(target) {
		target.Close()
		newChannel.Reject(ssh.ConnectionFailed, "the test server is closing")
		return
	}
	defer s.untrack(target)
	channel, requests, err := newChannel.Accept()
	if err != nil {
		target.Close()
		return
	}
	s.forwardCount.Add(1)
	go ssh.DiscardRequests(requests)

	var copies sync.WaitGroup
	copies.Add(2)
	go func() {
		defer copies.Done()
		io.Copy(target, channel)
		target.(*net.TCPConn).CloseWrite()
	}()
	go func() {
		defer copies.Done()
		io.Copy(channel, target)
		channel.CloseWrite()
	}()
	copies.Wait()
	channel.Close()
	target.Close()
}

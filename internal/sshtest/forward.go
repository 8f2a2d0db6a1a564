package sshtest

import (
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"golang.org/x/crypto/ssh"
)

// forward serves one direct-tcpip channel: it connects to the requested
// loopback address and copies bytes both ways until either side closes.
func (s *Server) forward(newChannel ssh.NewChannel) {
	if !s.opts.forwarding {
		newChannel.Reject(ssh.Prohibited, "TCP forwarding is disabled")
		return
	}
	var payload struct {
		Host       string
		Port       uint32
		OriginHost string
		OriginPort uint32
	}
	if err := ssh.Unmarshal(newChannel.ExtraData(), &payload); err != nil {
		newChannel.Reject(ssh.ConnectionFailed, "invalid direct-tcpip request")
		return
	}
	// Tests reach only servers on this machine's loopback.
	addr, err := netip.ParseAddr(payload.Host)
	if payload.Host != "localhost" && (err != nil || !addr.IsLoopback()) {
		newChannel.Reject(ssh.Prohibited, "the test server forwards only to loopback addresses")
		return
	}
	target, err := net.Dial("tcp", net.JoinHostPort(payload.Host, strconv.Itoa(int(payload.Port))))
	if err != nil {
		newChannel.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	if !s.track(target) {
		target.Close()
		newChannel.Reject(ssh.ConnectionFailed, "server is closing")
		return
	}
	defer s.untrack(target)
	channel, requests, err := newChannel.Accept()
	if err != nil {
		target.Close()
		return
	}
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

// Command sshlimit measures the floor of any SSH tool on a machine: it
// opens one golang.org/x/crypto/ssh connection to every host at once,
// runs "true" in one session on each and closes, and prints the elapsed
// wall time in seconds. A configuration tool cannot do less work per
// host, so regtrust's benchmark reports its times as multiples of this.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func main() {
	user := flag.String("user", "root", "SSH user")
	keyFile := flag.String("key", "", "private key `FILE`")
	known := flag.String("known-hosts", "", "known_hosts `FILE` that lists every host")
	host := flag.String("host", "127.0.0.1", "address of every host")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "Usage: sshlimit -key FILE -known-hosts FILE PORT...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := run(*user, *keyFile, *known, *host, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "sshlimit:", err)
		os.Exit(1)
	}
}

func run(user, keyFile, known, host string, ports []string) error {
	if keyFile == "" || known == "" || len(ports) == 0 {
		return fmt.Errorf("give -key, -known-hosts and at least one port")
	}
	pem, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return fmt.Errorf("parse %s: %w", keyFile, err)
	}
	callback, err := knownhosts.New(known)
	if err != nil {
		return err
	}
	cfg := &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: callback,
		Timeout:         30 * time.Second,
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(ports))
	for _, port := range ports {
		if _, err := strconv.Atoi(port); err != nil {
			return fmt.Errorf("invalid port %q", port)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- runTrue(net.JoinHostPort(host, port), cfg)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	fmt.Printf("%.3f\n", time.Since(start).Seconds())
	return nil
}

func runTrue(addr string, cfg *ssh.ClientConfig) error {
	client, err := ssh.Dial("tcp", addr, cfg)
	if err != nil {
		return fmt.Errorf("dial %s: %w", addr, err)
	}
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		return fmt.Errorf("session on %s: %w", addr, err)
	}
	defer session.Close()
	if err := session.Run("true"); err != nil {
		return fmt.Errorf("run true on %s: %w", addr, err)
	}
	return nil
}

package main

import (
	"context"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/regtrust/regtrust/internal/certs"
	"github.com/regtrust/regtrust/inventory"
	"github.com/regtrust/regtrust/playbook"
	"github.com/regtrust/regtrust/tasks"
)

// expiryFlag is a duration flag that also takes whole days ("30d").
type expiryFlag struct{ window time.Duration }

func (f *expiryFlag) String() string {
	switch {
	case f == nil:
		return ""
	case f.window%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", f.window/(24*time.Hour))
	}
	return f.window.String()
}

func (f *expiryFlag) Set(s string) error {
	w, err := tasks.ParseExpiryWindow(s)
	if err != nil {
		return err
	}
	f.window = w
	return nil
}

// runWindow turns the flag into playbook.Options.ExpiryWindow, where 0
// means the default and a negative value turns the warning off.
func (f *expiryFlag) runWindow() time.Duration {
	if f.window == 0 {
		return -1
	}
	return f.window
}

type fetchFlags struct {
	via               string
	inventories       stringList
	knownHosts        stringList
	privateKey        string
	acceptNewHostKeys bool
	connectTimeout    time.Duration
	timeout           time.Duration
	expiry            expiryFlag
}

const fetchUsage = `Usage: regtrust fetch-ca ADDRESS [--via HOST -i INVENTORY] [options]

Reads the certificate chain that the registry at ADDRESS (host[:port] as in
image references) sends, shows each certificate, the CA that fetch_ca would
trust and why, and a ca_sha256 line to paste into the playbook. No host is
changed. With --via, the connection goes through that inventory host's SSH
connection, for a registry that only the hosts can reach.

Options:`

// fetchCA is the fetch-ca command.
func fetchCA(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f := fetchFlags{expiry: expiryFlag{window: tasks.DefaultExpiryWindow}}
	fs := flag.NewFlagSet("regtrust fetch-ca", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.via, "via", "", "connect to the registry through the SSH connection of inventory `HOST`")
	fs.Var(&f.inventories, "i", "inventory `FILE` or folder with the --via host; repeat to merge several")
	fs.Var(&f.inventories, "inventory", "same as -i")
	fs.Var(&f.knownHosts, "known-hosts", "known_hosts `FILE` that verifies the --via host's key (default ~/.ssh/known_hosts); repeat for several")
	fs.StringVar(&f.privateKey, "private-key", "", "SSH private key `FILE` when the inventory sets no ansible_ssh_private_key_file")
	fs.BoolVar(&f.acceptNewHostKeys, "accept-new-host-keys", false, "trust the --via host's key if it is not yet in known_hosts and add it there (a changed key is still rejected)")
	fs.DurationVar(&f.connectTimeout, "connect-timeout", 15*time.Second, "time allowed for the --via host's TCP connection and SSH handshake")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "time allowed for the whole fetch")
	fs.Var(&f.expiry, "expiry-warning", "warn about certificates that expire within this `WINDOW`, in days (30d) or as a duration (720h); 0 turns it off")
	fs.Usage = func() {
		fmt.Fprintln(stderr, fetchUsage)
		fs.PrintDefaults()
	}
	address, status, ok := parseOne(fs, args, stderr, "registry address")
	if !ok {
		return status
	}
	opts := playbook.Options{
		KnownHostsFiles:   f.knownHosts,
		AcceptNewHostKeys: f.acceptNewHostKeys,
		PrivateKey:        f.privateKey,
		ConnectTimeout:    f.connectTimeout,
		ExpiryWindow:      f.expiry.runWindow(),
	}
	switch {
	case f.via != "" && len(f.inventories) == 0:
		fmt.Fprintf(stderr, "regtrust fetch-ca: --via %s needs the inventory that defines the host; add -i INVENTORY\n", f.via)
		return exitError
	case f.via != "":
		inv, err := inventory.Load(f.inventories...)
		if err != nil {
			fmt.Fprintf(stderr, "regtrust fetch-ca: %v\n", err)
			return exitError
		}
		opts.Inventory = inv
	}

	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	chain, err := playbook.FetchChain(ctx, address, f.via, opts)
	if err != nil {
		fmt.Fprintf(stderr, "regtrust fetch-ca: %v\n", err)
		return exitError
	}
	printChain(stdout, address, f.via, chain)
	return exitOK
}

// printChain shows the chain as sent, the CA picked and why, the
// warnings, and the pin line.
func printChain(w io.Writer, address, via string, chain *playbook.FetchedChain) {
	from := address
	if via != "" {
		from += " (through " + via + ")"
	}
	fmt.Fprintf(w, "Certificates sent by %s, leaf first:\n", from)
	picked := 0
	for i, c := range chain.Certs {
		if c.Equal(chain.CA.Cert) {
			picked = i + 1
		}
		printCert(w, i+1, c)
	}
	fmt.Fprintf(w, "\nCA to trust: certificate %d, %q\n  because %s\n", picked, chain.CA.Cert.Subject.String(), chain.Reason)
	for _, warning := range chain.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warning)
	}
	fmt.Fprintf(w, "\nCheck the fingerprint out of band, then pin the CA in the registry's entry of the playbook:\n  ca_sha256: %q\n", chain.CA.SHA256)
}

func printCert(w io.Writer, n int, c *x509.Certificate) {
	fmt.Fprintf(w, "  %d. subject: %q\n", n, c.Subject.String())
	fmt.Fprintf(w, "     issuer:  %q\n", c.Issuer.String())
	fmt.Fprintf(w, "     valid:   %s to %s\n", c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
	fmt.Fprintf(w, "     sha256:  %s\n", certs.Fingerprint(c))
}

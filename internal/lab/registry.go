package lab

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// RegistryPort is the port the lab registry listens on.
const RegistryPort = 5000

// Registry is the lab's private registry.
type Registry struct {
	// Address is "IP:PORT", the form used in image references and as
	// the folder name under /etc/docker/certs.d.
	Address string
	// CAPEM is the certificate a host must trust: the root CA, or the
	// leaf itself for ChainSelfSigned.
	CAPEM []byte
	// CASHA256 is the SHA-256 fingerprint of CAPEM's certificate, in
	// the form Fingerprint returns.
	CASHA256 string
	// ChainPEM holds the certificates the registry sends, leaf first.
	ChainPEM []byte
	// Chain is the kind of certificate chain the registry serves.
	Chain Chain
	// Image is the seeded image, "ADDRESS/lab/hello:1".
	Image string

	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has been waited for
	dir    string
	client *http.Client
}

// registryConfig is the docker-registry 2.x configuration. Storage
// lives in the lab folder and TLS uses the lab's own certificates.
const registryConfig = `version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: %s
  tls:
    certificate: %s
    key: %s
`

// startRegistry writes the registry's files into dir and starts
// docker-registry inside the network's namespace. It returns once the
// process runs, and waitReady returns once the registry serves.
func startRegistry(n *network, p *pki, dir string) (*Registry, error) {
	if err := os.MkdirAll(filepath.Join(dir, "storage"), 0o700); err != nil {
		return nil, fmt.Errorf("create registry folder: %w", err)
	}
	addr := net.JoinHostPort(n.registryIP.String(), fmt.Sprint(RegistryPort))
	chainPEM := encodePEM(p.chain...)
	chainFile := filepath.Join(dir, "chain.pem")
	keyFile := filepath.Join(dir, "key.pem")
	configFile := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(chainFile, chainPEM, 0o644); err != nil {
		return nil, fmt.Errorf("write registry chain: %w", err)
	}
	if err := os.WriteFile(keyFile, p.keyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("write registry key: %w", err)
	}
	// The registry signs upload state with this value; it must only be
	// unpredictable and stable for the registry's lifetime.
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generate registry http secret: %w", err)
	}
	config := fmt.Sprintf(registryConfig, filepath.Join(dir, "storage"), addr, hex.EncodeToString(secret), chainFile, keyFile)
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		return nil, fmt.Errorf("write registry config: %w", err)
	}
	logFile, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return nil, fmt.Errorf("create registry log: %w", err)
	}
	defer logFile.Close()

	// `ip netns exec` enters the namespace and then execs the program,
	// so cmd.Process is the registry itself.
	cmd := exec.Command("ip", "netns", "exec", n.netns, "docker-registry", "serve", configFile)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start docker-registry: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()

	roots := x509.NewCertPool()
	roots.AddCert(p.ca)
	return &Registry{
		Address:  addr,
		CAPEM:    encodePEM(p.ca),
		CASHA256: Fingerprint(p.ca),
		ChainPEM: chainPEM,
		Image:    addr + "/lab/hello:1",
		cmd:      cmd,
		exited:   exited,
		dir:      dir,
		client: &http.Client{
			Timeout: 30 * time.Second,
			Transport: &http.Transport{
				// No proxy: the registry is reachable only through
				// the lab's own veth.
				Proxy: nil,
				TLSClientConfig: &tls.Config{
					RootCAs:    roots,
					ServerName: p.serverName,
					MinVersion: tls.VersionTLS12,
				},
			},
		},
	}, nil
}

// waitReady polls GET /v2/ until the registry returns 200, the
// registry process exits, or ctx ends.
func (r *Registry) waitReady(ctx context.Context) error {
	url := "https://" + r.Address + "/v2/"
	var lastErr error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("build request %s: %w", url, err)
		}
		resp, err := r.client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			lastErr = fmt.Errorf("GET %s: status %s", url, resp.Status)
		} else {
			lastErr = err
		}
		select {
		case <-r.exited:
			return fmt.Errorf("start registry: docker-registry exited; log:\n%s", tail(filepath.Join(r.dir, "registry.log"), 20))
		case <-ctx.Done():
			return fmt.Errorf("wait for registry at %s: %w (last error: %v)", url, ctx.Err(), lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop ends the registry: SIGTERM first so it can finish writes, then
// SIGKILL if it is still running after timeout.
func (r *Registry) stop(timeout time.Duration) error {
	r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
		return nil
	case <-time.After(timeout):
	}
	r.cmd.Process.Kill()
	select {
	case <-r.exited:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("stop docker-registry pid %d: still running after SIGKILL", r.cmd.Process.Pid)
	}
}

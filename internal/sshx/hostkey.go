package sshx

import (
	"bufio"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// knownHosts is a snapshot of the known_hosts files of one Config.
type knownHosts struct {
	callback ssh.HostKeyCallback // from knownhosts.New over the files that exist
	// authorityLines marks, per file, the line numbers of
	// @cert-authority entries; knownhosts.KeyError reports those keys
	// together with plain host keys.
	authorityLines map[string]map[int]bool
}

// knownHostsCache keeps parsed known_hosts files for the dials of a run.
// Parsing the files on every dial made a run over N hosts parse N lines N
// times, and kept a copy of the whole database per open connection. An
// entry is reused only while every file has the size and modification
// time it had when it was parsed, so a key appended with
// AcceptNewHostKeys, or any edit, makes the next dial parse again.
var knownHostsCache struct {
	mu      sync.Mutex
	entries map[string]*knownHosts
}

// maxKnownHostsCache bounds the cache; a run uses one set of files, or a
// few with jump hosts.
const maxKnownHostsCache = 8

// loadKnownHostsCached is loadKnownHosts with knownHostsCache.
func loadKnownHostsCached(files []string) (*knownHosts, error) {
	var key strings.Builder
	for _, file := range files {
		key.WriteString(file)
		if info, err := os.Stat(file); err == nil {
			fmt.Fprintf(&key, "\x00%d\x00%d", info.Size(), info.ModTime().UnixNano())
		}
		key.WriteString("\x00\x00")
	}
	knownHostsCache.mu.Lock()
	defer knownHostsCache.mu.Unlock()
	if db, ok := knownHostsCache.entries[key.String()]; ok {
		return db, nil
	}
	db, err := loadKnownHosts(files)
	if err != nil {
		return nil, err
	}
	if knownHostsCache.entries == nil || len(knownHostsCache.entries) >= maxKnownHostsCache {
		knownHostsCache.entries = map[string]*knownHosts{}
	}
	knownHostsCache.entries[key.String()] = db
	return db, nil
}

// loadKnownHosts reads the files that exist; a missing file counts as
// empty, as in OpenSSH.
func loadKnownHosts(files []string) (*knownHosts, error) {
	var existing []string
	for _, file := range files {
		_, err := os.Stat(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read known_hosts file: %w", err)
		}
		existing = append(existing, file)
	}
	callback, err := knownhosts.New(existing...)
	if err != nil {
		return nil, fmt.Errorf("parse known_hosts files %s: %w", strings.Join(existing, ", "), err)
	}
	db := &knownHosts{callback: callback, authorityLines: make(map[string]map[int]bool)}
	// Read after knownhosts.New, because the files only ever grow by
	// appended lines, so every line number it reports is present here.
	for _, file := range existing {
		lines, err := findAuthorityLines(file)
		if err != nil {
			return nil, err
		}
		db.authorityLines[file] = lines
	}
	return db, nil
}

func findAuthorityLines(file string) (map[int]bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read known_hosts file: %w", err)
	}
	defer f.Close()
	lines := make(map[int]bool)
	scanner := bufio.NewScanner(f)
	for n := 1; scanner.Scan(); n++ {
		if strings.HasPrefix(strings.TrimSpace(scanner.Text()), "@cert-authority") {
			lines[n] = true
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("read known_hosts file %s: %w", file, err)
	}
	return lines, nil
}

// verdict is the outcome of checking one host key against a snapshot.
type verdict struct {
	known []knownhosts.KnownKey // plain keys on file for the host
	err   error                 // nil when the key is trusted
}

// check returns a nil err when key is trusted for addr. For a plain key
// that is not on file it returns the plain host keys on file for addr,
// empty when the host is unknown.
func (db *knownHosts) check(addr string, remote net.Addr, key ssh.PublicKey) verdict {
	err := db.callback(addr, remote, key)
	var keyErr *knownhosts.KeyError
	if !errors.As(err, &keyErr) {
		return verdict{err: err}
	}
	var plain []knownhosts.KnownKey
	for _, k := range keyErr.Want {
		if !db.authorityLines[k.Filename][k.Line] {
			plain = append(plain, k)
		}
	}
	return verdict{known: plain, err: err}
}

// keysOnFile returns the plain host keys and the certificate authorities
// on file for addr. It checks a key that no file lists, so the resulting
// knownhosts.KeyError names every entry for addr.
func (db *knownHosts) keysOnFile(addr string) (plain, authorities []knownhosts.KnownKey) {
	err := db.callback(addr, placeholderRemote, probeKey())
	var keyErr *knownhosts.KeyError
	if !errors.As(err, &keyErr) {
		return nil, nil
	}
	for _, k := range keyErr.Want {
		if db.authorityLines[k.Filename][k.Line] {
			authorities = append(authorities, k)
		} else {
			plain = append(plain, k)
		}
	}
	return plain, authorities
}

// placeholderRemote is the TCP peer passed to the callback before a
// connection exists. knownhosts checks the dialed address, not this one.
var placeholderRemote = &net.TCPAddr{IP: net.IPv4zero}

// probeKey is the ed25519 public key of the all-zero seed, which no
// known_hosts file lists in practice.
var probeKey = sync.OnceValue(func() ssh.PublicKey {
	seed := make([]byte, ed25519.SeedSize)
	key, err := ssh.NewPublicKey(ed25519.NewKeyFromSeed(seed).Public())
	if err != nil {
		panic("sshx: make probe key: " + err.Error())
	}
	return key
})

// hostKeyAlgorithms returns the host key algorithms to request so that
// the server presents a key that can be checked: first certificates when
// an authority is on file, then the types of the plain keys on file. It
// returns nil, meaning x/crypto/ssh's default order, when no plain key is
// on file, because then any offered key is either new or certified.
func hostKeyAlgorithms(plain, authorities []knownhosts.KnownKey) []string {
	if len(plain) == 0 {
		return nil
	}
	supported := ssh.SupportedAlgorithms().HostKeys
	var algorithms []string
	if len(authorities) > 0 {
		for _, a := range supported {
			if strings.Contains(a, "-cert-") {
				algorithms = append(algorithms, a)
			}
		}
	}
	for _, k := range plain {
		for _, a := range algorithmsForKeyType(k.Key.Type()) {
			if slices.Contains(supported, a) && !slices.Contains(algorithms, a) {
				algorithms = append(algorithms, a)
			}
		}
	}
	if len(algorithms) == 0 {
		return nil
	}
	return algorithms
}

// algorithmsForKeyType returns the signature algorithms for a key type.
// An RSA key is requested with the SHA-2 signatures of RFC 8332 only,
// leaving out SHA-1 "ssh-rsa". A server without RFC 8332 support must
// therefore offer an ECDSA or Ed25519 key.
func algorithmsForKeyType(keyType string) []string {
	if keyType == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	}
	return []string{keyType}
}

// hostKeyChecker is the ssh.HostKeyCallback of one Dial.
type hostKeyChecker struct {
	host      string
	port      int
	files     []string
	acceptNew bool
	db        *knownHosts // snapshot taken by Dial
}

func (h *hostKeyChecker) verify(addr string, remote net.Addr, key ssh.PublicKey) error {
	v := h.db.check(addr, remote, key)
	if v.err == nil {
		return nil
	}
	if err := h.classify(addr, key, v); err != nil {
		return err
	}
	return h.appendKey(addr, remote, key)
}

// classify turns a failed check into the error for the caller. It
// returns nil only for an unknown host with AcceptNewHostKeys set.
func (h *hostKeyChecker) classify(addr string, key ssh.PublicKey, v verdict) error {
	var keyErr *knownhosts.KeyError
	var revokedErr *knownhosts.RevokedError
	switch {
	case errors.As(v.err, &revokedErr):
		return fmt.Errorf("verify host key for %s: the offered key %s is marked @revoked in %s:%d; do not trust this host until its key is replaced",
			addr, ssh.FingerprintSHA256(key), revokedErr.Revoked.Filename, revokedErr.Revoked.Line)
	case !errors.As(v.err, &keyErr):
		// Certificate failures: unknown authority, expired, wrong principal.
		return fmt.Errorf("verify host key for %s: %w", addr, v.err)
	case len(v.known) > 0:
		keyError := &HostKeyError{
			Host:        h.host,
			Port:        h.port,
			Fingerprint: ssh.FingerprintSHA256(key),
			File:        v.known[0].Filename,
		}
		for _, k := range v.known {
			keyError.Known = append(keyError.Known, ssh.FingerprintSHA256(k.Key))
		}
		return keyError
	case !h.acceptNew:
		return &HostKeyError{
			Host:        h.host,
			Port:        h.port,
			Fingerprint: ssh.FingerprintSHA256(key),
			File:        h.files[0],
		}
	}
	return nil
}

// appendKey trusts an unknown host's key on first use by appending it to
// the first known_hosts file. It re-reads the files under a per-file lock
// first, because another Dial may have added this host in the meantime,
// possibly with a different key, which must then be rejected as changed.
func (h *hostKeyChecker) appendKey(addr string, remote net.Addr, key ssh.PublicKey) error {
	file := h.files[0]
	unlock := lockFile(file)
	defer unlock()

	db, err := loadKnownHosts(h.files)
	if err != nil {
		return fmt.Errorf("add host key for %s: %w", addr, err)
	}
	v := db.check(addr, remote, key)
	if v.err == nil {
		return nil
	}
	if err := h.classify(addr, key, v); err != nil {
		return err
	}
	// knownhosts.Line writes the address in known_hosts form through
	// knownhosts.Normalize: HOST for port 22, else [HOST]:PORT.
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, key)
	if err := appendLine(file, line); err != nil {
		return fmt.Errorf("add host key for %s: %w", addr, err)
	}
	return nil
}

// appendLine appends line to file, creating the file with mode 0600 and
// its folder with mode 0700 when they are missing. A last line without a
// newline gets one first, so the new entry starts on its own line.
func appendLine(file, line string) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("create known_hosts folder: %w", err)
	}
	f, err := os.OpenFile(file, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open known_hosts file: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat known_hosts file: %w", err)
	}
	if size := info.Size(); size > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, size-1); err != nil {
			f.Close()
			return fmt.Errorf("read known_hosts file %s: %w", file, err)
		}
		if last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line + "\n"); err != nil {
		f.Close()
		return fmt.Errorf("write known_hosts file %s: %w", file, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write known_hosts file %s: %w", file, err)
	}
	return nil
}

// fileLocks contains one mutex per known_hosts path, so that concurrent
// Dials in this process append one at a time.
// NOTE: another process writing the same file at once is not locked out.
// An O_APPEND write of one short line still lands whole on local file
// systems.
var fileLocks sync.Map // absolute path -> *sync.Mutex

func lockFile(file string) (unlock func()) {
	path, err := filepath.Abs(file)
	if err != nil {
		path = filepath.Clean(file)
	}
	value, _ := fileLocks.LoadOrStore(path, new(sync.Mutex))
	mu := value.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

package tasks

import (
	"bufio"
	"fmt"
	"path"
	"slices"
	"strings"
)

// trustStore is an OS family's CA trust store.
type trustStore struct {
	family string
	// anchors is the folder for local CA certificates.
	anchors string
	// update rebuilds the store from the anchors.
	update string
	// bundle is a file the update command rewrites; an anchor newer than
	// it has not been taken into the store yet.
	bundle string
}

// trustStores are the families regtrust supports. Each family's ID and
// ID_LIKE values in /etc/os-release select it.
var trustStores = []struct {
	ids   []string
	store trustStore
}{
	{[]string{"debian", "ubuntu"}, trustStore{"debian", "/usr/local/share/ca-certificates", "update-ca-certificates", "/etc/ssl/certs/ca-certificates.crt"}},
	{[]string{"alpine"}, trustStore{"alpine", "/usr/local/share/ca-certificates", "update-ca-certificates", "/etc/ssl/certs/ca-certificates.crt"}},
	{[]string{"rhel", "centos", "fedora", "rocky", "almalinux", "amzn"}, trustStore{"rhel", "/etc/pki/ca-trust/source/anchors", "update-ca-trust extract", "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem"}},
	{[]string{"suse", "opensuse", "sles", "opensuse-leap", "opensuse-tumbleweed"}, trustStore{"suse", "/etc/pki/trust/anchors", "update-ca-certificates", "/var/lib/ca-certificates/ca-bundle.pem"}},
	{[]string{"arch", "archlinux"}, trustStore{"arch", "/etc/ca-certificates/trust-source/anchors", "update-ca-trust", "/etc/ca-certificates/extracted/tls-ca-bundle.pem"}},
}

const osReleasePath = "/etc/os-release"

// osRelease parses the KEY=value lines of /etc/os-release.
func osRelease(data []byte) map[string]string {
	vals := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		vals[k] = strings.Trim(v, `"'`)
	}
	return vals
}

// detectTrustStore returns the trust store of the host: from the host
// variables ca_trust_dir and ca_update_command when both are set, else
// from /etc/os-release, ID first, then each ID_LIKE entry. The variable
// ca_update_command alone replaces only the detected family's command.
func detectTrustStore(t *Target) (trustStore, error) {
	dir, err := t.Var("ca_trust_dir", "")
	if err != nil {
		return trustStore{}, err
	}
	cmd, err := t.Var("ca_update_command", "")
	if err != nil {
		return trustStore{}, err
	}
	if dir != "" {
		if cmd == "" {
			return trustStore{}, fmt.Errorf("host variable ca_trust_dir=%q needs ca_update_command too, the command that rebuilds the trust store from that folder", dir)
		}
		if err := validateRemoteDir("ca_trust_dir", dir); err != nil {
			return trustStore{}, err
		}
		return trustStore{family: "custom", anchors: dir, update: cmd}, nil
	}
	st, err := t.File(osReleasePath)
	if err != nil {
		return trustStore{}, err
	}
	if !st.Exists || !st.ContentRead {
		return trustStore{}, fmt.Errorf("cannot tell the OS family: %s is missing; set the host variables ca_trust_dir and ca_update_command", osReleasePath)
	}
	rel := osRelease(st.Content)
	candidates := append([]string{rel["ID"]}, strings.Fields(rel["ID_LIKE"])...)
	for _, id := range candidates {
		for _, ts := range trustStores {
			if slices.Contains(ts.ids, id) {
				store := ts.store
				if cmd != "" {
					store.update = cmd
				}
				return store, nil
			}
		}
	}
	return trustStore{}, fmt.Errorf("unsupported OS family: %s has ID=%q ID_LIKE=%q; set the host variables ca_trust_dir and ca_update_command", osReleasePath, rel["ID"], rel["ID_LIKE"])
}

// anchorDirs returns every anchor folder the host may use: the one in
// ca_trust_dir, when set and valid, and each family's.
func anchorDirs(t *Target) []string {
	var dirs []string
	if dir, _ := t.Var("ca_trust_dir", ""); dir != "" && validateRemoteDir("ca_trust_dir", dir) == nil {
		dirs = append(dirs, dir)
	}
	for _, ts := range trustStores {
		if !slices.Contains(dirs, ts.store.anchors) {
			dirs = append(dirs, ts.store.anchors)
		}
	}
	return dirs
}

// trustStoreProbes gathers what detectTrustStore and the trust store tasks
// read: os-release and, in every anchor folder, the files named bases.
func trustStoreProbes(t *Target, bases ...string) []Probe {
	probes := []Probe{{Path: osReleasePath, Content: true}}
	for _, dir := range anchorDirs(t) {
		for _, base := range bases {
			probes = append(probes, Probe{Path: path.Join(dir, base), Content: true})
		}
	}
	return probes
}

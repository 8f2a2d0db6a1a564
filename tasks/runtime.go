package tasks

import (
	"fmt"
	"path"
	"strings"
)

// runtimeVar is the host or play variable that names the container
// runtime whose registry trust place_docker_cert writes.
const runtimeVar = "container_runtime"

// containerRuntime is the trust folder of one container runtime: a
// certs.d-style folder with a subfolder per registry address that holds
// ca.crt and, optionally, client.cert and client.key. Each of these
// runtimes reads the folder at every pull, so a change needs no restart.
type containerRuntime struct {
	name string
	// dirVar is the host variable that replaces the folder.
	dirVar string
	// dir is the default folder. It is empty for rootless Docker, whose
	// folder depends on the SSH user and is read on the host.
	dir string
	// hostsTOML marks containerd, which reads the CA's path from a
	// hosts.toml file beside it.
	hostsTOML bool
}

var containerRuntimes = []containerRuntime{
	{name: "docker", dirVar: "docker_certs_dir", dir: defaultCertsDir},
	// Rootless dockerd reads $XDG_CONFIG_HOME/docker/certs.d, or
	// ~/.config/docker/certs.d without XDG_CONFIG_HOME, of the user that
	// runs it: here the SSH user.
	{name: "docker-rootless", dirVar: "docker_certs_dir"},
	{name: "docker-snap", dirVar: "docker_certs_dir", dir: "/var/snap/docker/common/etc/certs.d"},
	{name: "containerd", dirVar: "containerd_certs_dir", dir: "/etc/containerd/certs.d", hostsTOML: true},
	// Podman, Buildah, Skopeo and CRI-O read the containers-certs.d
	// folder of the containers/image library.
	{name: "podman", dirVar: "containers_certs_dir", dir: "/etc/containers/certs.d"},
	{name: "crio", dirVar: "containers_certs_dir", dir: "/etc/containers/certs.d"},
}

// rootlessDirFact is the fact that holds rootless Docker's certs.d folder.
const rootlessDirFact = "rootless_docker_certs_dir"

// rootlessDirScript prints rootless Docker's certs.d folder for the SSH
// user, as dockerd resolves it.
const rootlessDirScript = `printf '%s' "${XDG_CONFIG_HOME:-$HOME/.config}/docker/certs.d"`

// ValidateRuntime checks a value of the container_runtime variable, so
// that a misspelt runtime stops a run before any host is contacted.
func ValidateRuntime(name string) error {
	names := make([]string, len(containerRuntimes))
	for i, rt := range containerRuntimes {
		if rt.name == name {
			return nil
		}
		names[i] = rt.name
	}
	return fmt.Errorf("invalid %s %q: use one of %s", runtimeVar, name, strings.Join(names, ", "))
}

// hostRuntime returns the runtime that the host's container_runtime
// variable names, Docker when it is unset.
func hostRuntime(t *Target) (containerRuntime, error) {
	name, err := t.Var(runtimeVar, "docker")
	if err != nil {
		return containerRuntime{}, err
	}
	for _, rt := range containerRuntimes {
		if rt.name == name {
			return rt, nil
		}
	}
	return containerRuntime{}, ValidateRuntime(name)
}

// certsRoot returns the runtime's certs.d folder on the host: the host
// variable dirVar when set, else the default. For rootless Docker without
// that variable, base is the fact that holds the folder, and root is
// empty until the fact is gathered.
func (rt containerRuntime) certsRoot(t *Target) (root, base string, err error) {
	dir, err := t.Var(rt.dirVar, rt.dir)
	if err != nil {
		return "", "", err
	}
	if dir == "" {
		base = rootlessDirFact
		if dir, err = gatheredDir(t, base); err != nil || dir == "" {
			return "", base, err
		}
	}
	if err := validateRemoteDir(rt.dirVar, dir); err != nil {
		return "", base, err
	}
	return dir, base, nil
}

// gatheredDir returns the folder that the fact key holds, or "" before
// the fact is gathered.
func gatheredDir(t *Target, key string) (string, error) {
	v, ok := t.facts[key]
	if !ok {
		return "", nil
	}
	dir := strings.TrimSpace(v)
	if !path.IsAbs(dir) || path.Clean(dir) != dir {
		return "", fmt.Errorf("rootless Docker's certs.d folder on the host is %q, not an absolute path; check $XDG_CONFIG_HOME and $HOME of the SSH user, or set the host variable docker_certs_dir", dir)
	}
	return dir, nil
}

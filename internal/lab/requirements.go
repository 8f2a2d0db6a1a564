package lab

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
)

// requiredProgram is a program the lab runs and the Debian package
// that ships it.
type requiredProgram struct {
	name    string // looked up in PATH unless absolute
	pkg     string
	purpose string
}

var requiredPrograms = []requiredProgram{
	{"/usr/sbin/sshd", "openssh-server", "lab hosts"},
	{"/usr/lib/openssh/sftp-server", "openssh-sftp-server", "file copies to lab hosts"},
	{"ssh", "openssh-client", "the lab self-test"},
	{"dockerd", "docker.io", "lab hosts that run dockerd"},
	{"docker", "docker.io", "waiting for dockerd and pulling"},
	{"containerd", "containerd", "dockerd"},
	{"runc", "runc", "dockerd"},
	{"docker-registry", "docker-registry", "the lab registry"},
	{"ip", "iproute2", "the registry network"},
	{"unshare", "util-linux", "private mounts per host"},
	{"nsenter", "util-linux", "running commands inside a host"},
	{"setsid", "util-linux", "detaching dockerd"},
	{"flock", "util-linux", "the restart script"},
	{"mount", "mount", "private mounts per host"},
	{"update-ca-certificates", "ca-certificates", "the system trust store on hosts"},
}

// DebianPackages lists the Debian packages that provide every program
// the lab needs.
func DebianPackages() []string {
	seen := map[string]bool{}
	var pkgs []string
	for _, p := range requiredPrograms {
		if !seen[p.pkg] {
			seen[p.pkg] = true
			pkgs = append(pkgs, p.pkg)
		}
	}
	return pkgs
}

// Requirements lists what this machine lacks to run a lab, one
// sentence per item naming the fix; it is empty when a lab can start.
// It checks the user, the programs the lab runs, and the sshd
// privilege separation user; it does not try to start anything.
func Requirements() []string {
	var missing []string
	if uid := os.Geteuid(); uid != 0 {
		missing = append(missing, fmt.Sprintf("root (running as uid %d); the lab creates namespaces and mounts", uid))
	}
	for _, p := range requiredPrograms {
		if _, err := exec.LookPath(p.name); err != nil {
			missing = append(missing, fmt.Sprintf("program %s for %s (apt-get install %s)", p.name, p.purpose, p.pkg))
		}
	}
	if _, err := user.Lookup("sshd"); err != nil {
		missing = append(missing, "user sshd for sshd privilege separation (reinstall openssh-server)")
	}
	return missing
}

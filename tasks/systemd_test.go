package tasks

import (
	"slices"
	"strings"
	"testing"
)

// debianUnit is `systemctl cat docker.service` on Debian 12 with docker.io
// and a drop-in that replaces ExecStart.
const debianUnit = `# /lib/systemd/system/docker.service
[Unit]
Description=Docker Application Container Engine

[Service]
Type=notify
EnvironmentFile=-/etc/default/docker
ExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock $DOCKER_OPTS
ExecReload=/bin/kill -s HUP $MAINPID

# /etc/systemd/system/docker.service.d/override.conf
[Service]
ExecStart=
ExecStart=/usr/sbin/dockerd -H fd:// \
    --insecure-registry=legacy.example:5000 ${EXTRA}
Environment="EXTRA=--debug"
`

func TestParseUnit(t *testing.T) {
	u := parseUnit(debianUnit)
	if len(u.execStart) != 1 {
		t.Fatalf("ExecStart = %+v; want the drop-in's one, after its reset", u.execStart)
	}
	if got := u.execStart[0].file; got != "/etc/systemd/system/docker.service.d/override.conf" {
		t.Errorf("ExecStart file = %q; want the drop-in", got)
	}
	if got := u.execStart[0].command; got != "/usr/sbin/dockerd -H fd:// --insecure-registry=legacy.example:5000 ${EXTRA}" {
		t.Errorf("ExecStart command = %q; want the continued line joined", got)
	}
	if !slices.Equal(u.envFiles, []string{"/etc/default/docker"}) {
		t.Errorf("EnvironmentFile = %q; want /etc/default/docker", u.envFiles)
	}
	if u.env["EXTRA"] != "--debug" {
		t.Errorf("Environment EXTRA = %q; want --debug", u.env["EXTRA"])
	}
}

func TestExpandCommand(t *testing.T) {
	env := map[string]string{"DOCKER_OPTS": "--dns 10.0.0.1  --insecure-registry x", "ROOT": "/srv/docker"}
	tests := []struct {
		name, command string
		want, used    []string
	}{
		{"word-variable-splits", "/usr/sbin/dockerd -H fd:// $DOCKER_OPTS", []string{"/usr/sbin/dockerd", "-H", "fd://", "--dns", "10.0.0.1", "--insecure-registry", "x"}, []string{"DOCKER_OPTS"}},
		{"braced-variable-in-word", "dockerd --data-root=${ROOT}/data", []string{"dockerd", "--data-root=/srv/docker/data"}, []string{"ROOT"}},
		{"unset-variable-vanishes", "dockerd $MISSING --debug", []string{"dockerd", "--debug"}, []string{"MISSING"}},
		{"prefixes-dropped", "-@/usr/bin/dockerd --debug", []string{"/usr/bin/dockerd", "--debug"}, nil},
		{"quoted-words", `dockerd --label "a=b c" --label 'd=e'`, []string{"dockerd", "--label", "a=b c", "--label", "d=e"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, used := expandCommand(tt.command, env)
			if !slices.Equal(got, tt.want) {
				t.Errorf("words = %q; want %q", got, tt.want)
			}
			if !slices.Equal(used, tt.used) {
				t.Errorf("used = %q; want %q", used, tt.used)
			}
		})
	}
}

func TestParseEnvFile(t *testing.T) {
	content := `# Docker Upstart and SysVinit configuration file
#DOCKER_OPTS="--dns 8.8.8.8"
DOCKER_OPTS="--insecure-registry legacy.example:5000 --debug"
export http_proxy=http://proxy:3128/
OPTIONS='--selinux-enabled'
not a variable
`
	got := parseEnvFile(content)
	want := map[string]string{
		"DOCKER_OPTS": "--insecure-registry legacy.example:5000 --debug",
		"http_proxy":  "http://proxy:3128/",
		"OPTIONS":     "--selinux-enabled",
	}
	if len(got) != len(want) {
		t.Errorf("variables = %q; want %q", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q; want %q", k, got[k], v)
		}
	}
}

func TestFlagSources(t *testing.T) {
	tests := []struct {
		name  string
		state dockerdState
		want  []string
	}{
		{
			name: "systemd-unit-and-env-file",
			state: dockerdState{
				pid:      42,
				manager:  "systemd",
				cmdline:  []string{"/usr/sbin/dockerd", "-H", "fd://"},
				unit:     strings.Replace(debianUnit, "ExecStart=\n", "", 1),
				envFiles: map[string]string{"/etc/default/docker": "DOCKER_OPTS=\"--registry-mirror https://m.example\"\n"},
			},
			want: []string{
				"command line of the running dockerd, pid 42: -H fd://",
				"ExecStart in /lib/systemd/system/docker.service with $DOCKER_OPTS from /etc/default/docker: -H fd:// --containerd=/run/containerd/containerd.sock --registry-mirror https://m.example",
				"ExecStart in /etc/systemd/system/docker.service.d/override.conf with $EXTRA from the unit's Environment=: -H fd:// --insecure-registry=legacy.example:5000 --debug",
			},
		},
		{
			name: "sysv-default-file",
			state: dockerdState{
				manager:  "sysv",
				envFiles: map[string]string{"/etc/default/docker": "DOCKER_OPTS=\"--insecure-registry x\"\n"},
			},
			want: []string{"DOCKER_OPTS in /etc/default/docker: --insecure-registry x"},
		},
		{
			name: "systemd-ignores-unreferenced-file",
			state: dockerdState{
				manager:  "systemd",
				unit:     "# /lib/systemd/system/docker.service\n[Service]\nExecStart=/usr/bin/dockerd\n",
				envFiles: map[string]string{"/etc/default/docker": "DOCKER_OPTS=\"--insecure-registry x\"\n"},
			},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, s := range tt.state.flagSources() {
				got = append(got, s.Where+": "+strings.Join(s.Args, " "))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("sources =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

package tasks

import (
	"encoding/base64"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/regtrust/regtrust/internal/daemonjson"
)

// dockerdFact is the fact that describes the host's dockerd. The
// daemon.json task and the restart handler both read it, so it is
// gathered once.
const dockerdFact = "dockerd"

// defaultPidfile is the file that a rootful dockerd writes its process
// id to unless its pidfile setting moves it. The host variable
// docker_pidfile overrides it, for rootless dockerd
// ($XDG_RUNTIME_DIR/docker.pid) for example. The pidfile, not a process
// search, shows whether dockerd runs, because a search can find a
// dockerd that serves another mount namespace or user and is not the one
// this host's files configure.
const defaultPidfile = "/var/run/docker.pid"

// serviceManagers are the values of the host variable
// docker_service_manager, which overrides the detected one.
var serviceManagers = []string{"systemd", "openrc", "snap", "sysv", "none"}

// envFiles are the files whose variables init scripts pass to dockerd:
// Debian's /etc/init.d/docker reads DOCKER_OPTS from /etc/default/docker,
// OpenRC's from /etc/conf.d/docker, and the RHEL family's older docker
// package reads OPTIONS from /etc/sysconfig/docker.
var envFiles = []struct {
	path string
	vars []string
}{
	{"/etc/default/docker", []string{"DOCKER_OPTS"}},
	{"/etc/conf.d/docker", []string{"DOCKER_OPTS"}},
	{"/etc/sysconfig/docker", []string{"OPTIONS", "DOCKER_OPTS"}},
}

// dockerdScript returns the script of the dockerd fact for the usual
// option files.
func dockerdScript(pidfile, manager string) string {
	return dockerdScriptFiles(pidfile, manager, envFilePaths())
}

// dockerdScriptFiles prints one line per fact about dockerd. The facts are its
// process id (0 when it does not run), the service manager, the running
// dockerd's command line, the systemd unit with its drop-ins, the
// environment files that can carry flags, and the number of running
// containers with the live-restore setting. Binary values are in base64,
// so each fact stays on one line, except option files: an "envfile PATH"
// line is followed by the file's lines, each behind one space. They are
// read with shell builtins, because starting programs is most of what a
// gather costs on a host.
func dockerdScriptFiles(pidfile, manager, files string) string {
	var b strings.Builder
	b.WriteString(`b64() { base64 | tr -d '\n'; }
bounded() { if command -v timeout >/dev/null 2>&1; then timeout 20 "$@"; else "$@"; fi; }
`)
	b.WriteString(pidFunction(pidfile))
	b.WriteString("pid=$(current_pid)\n")
	fmt.Fprintf(&b, `echo "pid $pid"
manager=%s
if [ -z "$manager" ]; then
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then manager=systemd
  elif command -v rc-service >/dev/null 2>&1 && [ -e /etc/init.d/docker ]; then manager=openrc
  elif command -v snap >/dev/null 2>&1 && snap list docker >/dev/null 2>&1; then manager=snap
  elif [ -x /etc/init.d/docker ]; then manager=sysv
  else manager=none
  fi
fi
echo "manager $manager"
if [ "$pid" != 0 ] && [ -r "/proc/$pid/cmdline" ]; then echo "cmdline $(tr '\0' '\n' < "/proc/$pid/cmdline" | b64)"; fi
files=%s
if [ "$manager" = systemd ]; then
  unit=$(bounded systemctl cat docker.service 2>/dev/null)
  echo "unit $(printf '%%s\n' "$unit" | b64)"
  files="$files $(printf '%%s\n' "$unit" | sed -n 's/^EnvironmentFile=//p' | tr ' ' '\n' | sed 's/^-//')"
fi
for f in $files; do
  if [ -f "$f" ] && [ -r "$f" ]; then
    printf 'envfile %%s\n' "$f"
    while IFS= read -r line || [ -n "$line" ]; do printf ' %%s\n' "$line"; done < "$f"
  fi
done
if [ "$pid" != 0 ] && command -v docker >/dev/null 2>&1; then
  info=$(bounded docker info --format '{{.ContainersRunning}} {{.LiveRestoreEnabled}}' 2>/dev/null) && echo "info $info"
fi
`, shellQuote(manager), shellQuote(files))
	return b.String()
}

func envFilePaths() string {
	var paths []string
	for _, f := range envFiles {
		paths = append(paths, f.path)
	}
	return strings.Join(paths, " ")
}

// dockerdState is the gathered description of the host's dockerd.
type dockerdState struct {
	pid     int
	manager string
	// cmdline is the running dockerd's command line, program included.
	cmdline []string
	// unit is the output of `systemctl cat docker.service`.
	unit string
	// envFiles maps an environment file's path to its content.
	envFiles map[string]string
	// containers is the number of running containers, -1 when unknown.
	containers  int
	liveRestore bool
}

// dockerdProbe returns the probe of the dockerd fact with the host's
// settings.
func dockerdProbe(t *Target) Probe {
	pidfile, _ := t.Var("docker_pidfile", defaultPidfile)
	manager, _ := t.Var("docker_service_manager", "")
	return Probe{Key: dockerdFact, Script: dockerdScript(pidfile, manager)}
}

// checkDockerdVars checks the host variables that dockerdProbe reads, so
// that a bad value fails the task instead of silently being ignored.
func checkDockerdVars(t *Target) error {
	pidfile, err := t.Var("docker_pidfile", "")
	if err != nil {
		return err
	}
	if pidfile != "" && (!path.IsAbs(pidfile) || path.Clean(pidfile) != pidfile) {
		return fmt.Errorf("host variable docker_pidfile=%q must be an absolute, clean path such as %s", pidfile, defaultPidfile)
	}
	manager, err := t.Var("docker_service_manager", "")
	if err != nil {
		return err
	}
	if manager != "" && !slices.Contains(serviceManagers, manager) {
		return fmt.Errorf("host variable docker_service_manager=%q is not one of %s", manager, strings.Join(serviceManagers, ", "))
	}
	return nil
}

func readDockerd(t *Target) (dockerdState, error) {
	if err := checkDockerdVars(t); err != nil {
		return dockerdState{}, err
	}
	out, err := t.Fact(dockerdFact)
	if err != nil {
		return dockerdState{}, err
	}
	return parseDockerd(out)
}

func parseDockerd(out string) (dockerdState, error) {
	st := dockerdState{containers: -1, envFiles: map[string]string{}}
	decode := func(s string) (string, error) {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return "", fmt.Errorf("gather dockerd state: invalid encoding %q", s)
		}
		return string(b), nil
	}
	envFile := "" // the option file whose lines follow
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, " "); ok && envFile != "" {
			st.envFiles[envFile] += rest + "\n"
			continue
		}
		envFile = ""
		k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch k {
		case "pid":
			st.pid, _ = strconv.Atoi(v)
		case "manager":
			st.manager = v
		case "cmdline":
			s, err := decode(v)
			if err != nil {
				return st, err
			}
			st.cmdline = strings.Split(strings.TrimSuffix(s, "\n"), "\n")
		case "unit":
			s, err := decode(v)
			if err != nil {
				return st, err
			}
			st.unit = s
		case "envfile":
			envFile = v
			st.envFiles[envFile] = ""
		case "info":
			n, live, _ := strings.Cut(v, " ")
			if c, err := strconv.Atoi(n); err == nil {
				st.containers = c
			}
			st.liveRestore = live == "true"
		}
	}
	return st, nil
}

// flagSources returns the places that give dockerd command-line flags.
// The first is the running dockerd's command line. With systemd, the
// ExecStart of the unit and its drop-ins follow, with their environment
// variables expanded. With an init script, the variables it passes from
// its environment file follow.
func (d dockerdState) flagSources() []daemonjson.FlagSource {
	var sources []daemonjson.FlagSource
	if len(d.cmdline) > 1 {
		sources = append(sources, daemonjson.FlagSource{
			Where: fmt.Sprintf("command line of the running dockerd, pid %d", d.pid),
			Args:  d.cmdline[1:],
		})
	}
	switch d.manager {
	case "systemd":
		sources = append(sources, d.unitSources()...)
	case "sysv", "openrc":
		for _, f := range envFiles {
			content, ok := d.envFiles[f.path]
			if !ok {
				continue
			}
			vars := parseEnvFile(content)
			for _, name := range f.vars {
				if v, ok := vars[name]; ok && strings.TrimSpace(v) != "" {
					sources = append(sources, daemonjson.FlagSource{
						Where: fmt.Sprintf("%s in %s", name, f.path),
						Args:  strings.Fields(v),
					})
				}
			}
		}
	}
	return sources
}

// unitSources returns the effective ExecStart lines of the systemd unit.
func (d dockerdState) unitSources() []daemonjson.FlagSource {
	u := parseUnit(d.unit)
	env := map[string]string{}
	from := map[string]string{}
	for _, f := range u.envFiles {
		content, ok := d.envFiles[f]
		if !ok {
			continue
		}
		for k, v := range parseEnvFile(content) {
			env[k], from[k] = v, f
		}
	}
	for k, v := range u.env {
		env[k], from[k] = v, "the unit's Environment="
	}
	var sources []daemonjson.FlagSource
	for _, start := range u.execStart {
		words, used := expandCommand(start.command, env)
		if len(words) < 2 {
			continue
		}
		where := "ExecStart in " + start.file
		for _, name := range used {
			if f, ok := from[name]; ok {
				where += fmt.Sprintf(" with $%s from %s", name, f)
			}
		}
		sources = append(sources, daemonjson.FlagSource{Where: where, Args: words[1:]})
	}
	return sources
}

// configFileFlag returns the daemon configuration file that the running
// dockerd's --config-file flag names, or "".
func (d dockerdState) configFileFlag() string {
	for i := 1; i < len(d.cmdline); i++ {
		arg := d.cmdline[i]
		if v, ok := strings.CutPrefix(arg, "--config-file="); ok {
			return v
		}
		if arg == "--config-file" && i+1 < len(d.cmdline) {
			return d.cmdline[i+1]
		}
	}
	return ""
}

package tasks

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"time"
)

// Exit statuses of the script that makes dockerd act, one per way it can
// fail, so that the task can tell whether to roll back.
const (
	containersStatus    = 75 // containers run, live-restore is off, restart not allowed
	commandFailedStatus = 76 // the restart or reload command failed
	waitFailedStatus    = 77 // dockerd did not respond or did not show the change in time
	tlsFailedStatus     = 78 // a registry's TLS connection does not verify
)

// insecureTemplate makes `docker info` print the registries dockerd
// treats as insecure, each followed by a space: the names from
// insecure-registries that are not CIDRs, then the CIDRs.
const insecureTemplate = `{{range $name, $index := .RegistryConfig.IndexConfigs}}{{if not $index.Secure}}{{$name}} {{end}}{{end}}{{range .RegistryConfig.InsecureRegistryCIDRs}}{{.}} {{end}}`

// actPlan is one restart or reload of dockerd and what proves it worked.
type actPlan struct {
	action  string // "restart" or "reload"
	command string
	// pidFunction defines the shell function current_pid.
	pidFunction     string
	allowContainers bool
	wait            time.Duration
	work            daemonWork
	// caBundle is the OS trust store's bundle, or "" when unknown.
	caBundle   string
	certsDir   string
	manager    string
	logFile    string
	daemonJSON *daemonJSONChange
}

func newActPlan(t *Target, d dockerdState, action string) (*actPlan, error) {
	cmd, err := serviceCommand(t, d, action)
	if err != nil {
		return nil, err
	}
	wait, err := waitTimeout(t)
	if err != nil {
		return nil, err
	}
	allow, err := t.BoolVar("allow_container_restart", false)
	if err != nil {
		return nil, err
	}
	certsDir, err := t.Var("docker_certs_dir", defaultCertsDir)
	if err != nil {
		return nil, err
	}
	if err := validateRemoteDir("docker_certs_dir", certsDir); err != nil {
		return nil, err
	}

	logFile, err := t.Var("docker_log_file", "")
	if err != nil {
		return nil, err
	}
	if logFile != "" && !path.IsAbs(logFile) {
		return nil, fmt.Errorf("host variable docker_log_file=%q must be an absolute path such as /var/log/docker.log", logFile)
	}
	pidfile, _ := t.Var("docker_pidfile", defaultPidfile)

	p := &actPlan{
		action:          action,
		command:         cmd,
		pidFunction:     pidFunction(pidfile),
		allowContainers: allow,
		wait:            wait,
		work:            t.daemon,
		certsDir:        certsDir,
		manager:         d.manager,
		logFile:         logFile,
		daemonJSON:      t.daemon.DaemonJSON,
	}
	// The bundle helps the TLS check only; a host whose family is unknown
	// still gets the check against openssl's default CA folder.
	if ts, err := detectTrustStore(t); err == nil {
		p.caBundle = ts.bundle
	}
	return p, nil
}

// timeout bounds the whole remote command: the restart or reload command
// itself, which may stop containers, and then the wait.
func (p *actPlan) timeout() time.Duration {
	return p.wait + 5*time.Minute
}

// pidFunction defines current_pid, which prints the process id in
// pidfile when that process runs, else 0.
func pidFunction(pidfile string) string {
	return fmt.Sprintf(`current_pid() {
  p=0
  if [ -r %[1]s ]; then p=$(cat %[1]s 2>/dev/null); fi
  case "$p" in ''|*[!0-9]*) p=0 ;; esac
  if [ "$p" != 0 ] && ! kill -0 "$p" 2>/dev/null; then p=0; fi
  echo "$p"
}
`, shellQuote(pidfile))
}

// scriptPrelude defines the helpers every dockerd script uses: b64
// encodes standard input on one line, emit prints a report line "KEY
// BASE64", and bounded runs a command for at most 20 seconds where the
// host has timeout(1).
const scriptPrelude = `b64() { base64 | tr -d '\n'; }
emit() { printf '%s %s\n' "$1" "$(printf '%s' "$2" | b64)"; }
bounded() { if command -v timeout >/dev/null 2>&1; then timeout 20 "$@"; else "$@"; fi; }
`

// actScript returns the script that makes dockerd act and checks the
// result. Its report lines and exit status tell the task what happened.
func (p *actPlan) actScript() string {
	var b strings.Builder
	b.WriteString(scriptPrelude)
	b.WriteString(p.pidFunction)
	if p.action == "restart" && !p.allowContainers {
		// The gather command counted containers already; counting again
		// here closes the gap between the two.
		fmt.Fprintf(&b, `set -- $(bounded docker info --format '{{.ContainersRunning}} {{.LiveRestoreEnabled}}' 2>/dev/null)
if [ "${1:-0}" -gt 0 ] 2>/dev/null && [ "${2:-false}" != true ]; then emit containers "$1"; exit %d; fi
`, containersStatus)
	}
	// The command runs in a subshell, so that an exit in a custom
	// command ends only the command. The process it replaces is the one
	// that runs now, which an earlier restart of the run may have made.
	fmt.Fprintf(&b, `old_pid=$(current_pid)
emit old_pid "$old_pid"
out=$(mktemp) || exit 1
if ! ( %s
) </dev/null >"$out" 2>&1; then
  emit output "$(tail -n 20 "$out")"; rm -f "$out"; exit %d
fi
rm -f "$out"
`, p.command, commandFailedStatus)
	b.WriteString(p.waitLoop(true))
	b.WriteString(p.tlsChecks())
	return b.String()
}

// waitLoop polls every half second until dockerd responds to `docker
// info`.
// With expectations, it also waits until a restarted dockerd runs as a
// new process and docker info lists the added insecure registries and
// no longer lists the removed ones. It exits with waitFailedStatus and
// the last reason when the wait time runs out.
func (p *actPlan) waitLoop(expectations bool) string {
	var checks strings.Builder
	if expectations && p.action == "restart" {
		checks.WriteString(`    if [ "$pid" = "$old_pid" ]; then ready=no; last="dockerd still runs as pid $pid, the process from before the restart"; fi
`)
	}
	if expectations {
		for _, name := range p.work.InsecureAdded {
			fmt.Fprintf(&checks, `    case " $names " in *" "%[1]s" "*) ;; *) ready=no; last="docker info does not list "%[1]s" as an insecure registry; it lists: $names" ;; esac
`, shellQuote(name))
		}
		for _, name := range p.work.InsecureRemoved {
			fmt.Fprintf(&checks, `    case " $names " in *" "%[1]s" "*) ready=no; last="docker info still lists "%[1]s" as an insecure registry" ;; esac
`, shellQuote(name))
		}
	}
	tries := int(p.wait/(500*time.Millisecond)) + 1
	return fmt.Sprintf(`i=0
last="no response yet"
while :; do
  pid=$(current_pid)
  if names=$(bounded docker info --format %s 2>&1); then
    ready=yes
%s    if [ "$ready" = yes ]; then break; fi
  else
    last=$names
  fi
  i=$((i + 1))
  if [ "$i" -ge %d ]; then emit last "$last"; exit %d; fi
  sleep 0.5
done
emit pid "$pid"
emit insecure "$names"
`, shellQuote(insecureTemplate), checks.String(), tries, waitFailedStatus)
}

// tlsChecks returns the script part that opens a TLS connection from the
// host to each registry whose trust changed. The certificate must verify,
// for the registry's name or IP address, against the CAs that dockerd
// trusts for that registry: the OS trust store and the registry's certs.d
// folder. The check relies on openssl s_client (OpenSSL 1.1.1 or newer,
// which Debian's openssl package provides). Without openssl it is skipped
// and reported so.
func (p *actPlan) tlsChecks() string {
	if len(p.work.Registries) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("if command -v openssl >/dev/null 2>&1; then\n")
	for _, addr := range p.work.Registries {
		host, port := splitHostPort(addr)
		verify := "-servername " + shellQuote(host) + " -verify_hostname " + shellQuote(host)
		if _, err := netip.ParseAddr(host); err == nil {
			verify = "-noservername -verify_ip " + shellQuote(host)
		}
		var sources []string
		if p.caBundle != "" {
			sources = append(sources, shellQuote(p.caBundle))
		}
		sources = append(sources, shellQuote(path.Join(p.certsDir, addr))+"/*.crt")
		fmt.Fprintf(&b, `  ca=$(mktemp) || exit 1
  cat %s >"$ca" 2>/dev/null
  set -- -CAfile "$ca"
  [ -s "$ca" ] || set --
  if out=$(bounded openssl s_client -connect %s %s -verify_return_error "$@" </dev/null 2>&1); then
    rm -f "$ca"; emit tls_ok %s
  else
    rm -f "$ca"; emit tls_registry %s; emit tls_error "$(printf '%%s\n' "$out" | grep -i -e verify -e error -e connect | tail -n 5)"; exit %d
  fi
`, strings.Join(sources, " "), shellQuote(net.JoinHostPort(host, port)), verify, shellQuote(addr), shellQuote(addr), tlsFailedStatus)
	}
	b.WriteString("else\n  emit tls_skipped 'openssl not found on the host'\nfi\n")
	return b.String()
}

// splitHostPort splits a registry address into host and port, 443 when
// the address has none. Brackets around an IPv6 host are removed.
func splitHostPort(addr string) (host, port string) {
	if h, p, err := net.SplitHostPort(addr); err == nil {
		return h, p
	}
	return strings.Trim(addr, "[]"), "443"
}

// rollbackScript collects dockerd's own error, restores the previous
// daemon.json, makes dockerd act again and waits until it responds.
func (p *actPlan) rollbackScript() string {
	var b strings.Builder
	b.WriteString(scriptPrelude)
	b.WriteString(p.pidFunction)
	if j := p.daemonJSON; j != nil {
		fmt.Fprintf(&b, "emit validate \"$(%s %s 2>&1)\"\n", validateCommand, shellQuote(j.Path))
	}
	switch {
	case p.logFile != "":
		fmt.Fprintf(&b, "emit log \"$(tail -n 30 %s 2>/dev/null)\"\n", shellQuote(p.logFile))
	case p.manager == "systemd":
		b.WriteString("emit log \"$(bounded journalctl -u docker.service -n 30 --no-pager -o cat 2>/dev/null)\"\n")
	default:
		b.WriteString("if [ -r /var/log/docker.log ]; then emit log \"$(tail -n 30 /var/log/docker.log)\"; fi\n")
	}
	if j := p.daemonJSON; j != nil {
		dst, backup := shellQuote(j.Path), shellQuote(j.Backup)
		if j.Existed {
			tmp := shellQuote(tempPath(j.Path, "rollback"))
			fmt.Fprintf(&b, `if [ -e %[2]s ] && cp -p %[2]s %[3]s && mv -f %[3]s %[1]s; then emit restored %[1]s; else emit restore_failed %[2]s; fi
`, dst, backup, tmp)
		} else {
			fmt.Fprintf(&b, "if rm -f %[1]s; then emit removed %[1]s; else emit restore_failed %[1]s; fi\n", dst)
		}
	}
	fmt.Fprintf(&b, `out=$(mktemp) || exit 1
if ! ( %s
) </dev/null >"$out" 2>&1; then emit again_output "$(tail -n 20 "$out")"; fi
rm -f "$out"
`, p.command)
	b.WriteString(p.waitLoop(false))
	return b.String()
}

// rollback undoes the daemon.json change after dockerd failed to act,
// and returns the host's error: the cause, dockerd's own error and what
// the rollback achieved.
func (p *actPlan) rollback(ctx context.Context, t *Target, cause error) error {
	ctx = context.WithoutCancel(ctx)
	ctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	out, err := t.Exec(ctx, p.rollbackScript())
	if err != nil {
		return fmt.Errorf("%s dockerd: %v; rolling back failed too: %w; check dockerd on the host by hand", p.action, cause, err)
	}
	rep := parseReport(out.Stdout)
	var undo string
	switch {
	case p.daemonJSON == nil:
		undo = "no daemon.json change to roll back"
	case rep.has("restored"):
		undo = fmt.Sprintf("regtrust restored %s from %s", p.daemonJSON.Path, p.daemonJSON.Backup)
	case rep.has("removed"):
		undo = fmt.Sprintf("regtrust removed %s, which did not exist before", p.daemonJSON.Path)
	default:
		undo = fmt.Sprintf("regtrust could not restore %s from %s", p.daemonJSON.Path, p.daemonJSON.Backup)
	}
	own := dockerdOwnError(rep)
	if out.ExitStatus != 0 {
		return fmt.Errorf("%s dockerd: %v; dockerd's own error: %s; %s and ran the %s command again, but dockerd still does not respond (%s); fix dockerd on the host by hand, and the next run tries again",
			p.action, cause, own, undo, p.action, rep.text("last"))
	}
	t.clearDaemonNeeds()
	return fmt.Errorf("%s dockerd: %v; dockerd's own error: %s; %s and ran the %s command again, and dockerd responds as pid %s",
		p.action, cause, own, undo, p.action, rep.text("pid"))
}

// dockerdOwnError picks dockerd's own words from the rollback report:
// the output of dockerd --validate when it has some, else the log lines
// that explain why dockerd stopped, else its error lines, else its last
// lines.
func dockerdOwnError(rep report) string {
	if v := strings.TrimSpace(rep.text("validate")); v != "" && !strings.Contains(strings.ToLower(v), "configuration ok") {
		return lastLines(v, 5)
	}
	log := rep.text("log")
	if strings.TrimSpace(log) == "" {
		return "(no dockerd log found; set the host variable docker_log_file)"
	}
	for _, markers := range [][]string{
		{"unable to configure", "failed to start daemon", "level=fatal"},
		{"level=error"},
	} {
		if lines := linesWith(log, markers); lines != "" {
			return lastLines(lines, 3)
		}
	}
	return lastLines(log, 3)
}

// linesWith returns the lines of text that contain one of markers, in
// any letter case.
func linesWith(text string, markers []string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		lower := strings.ToLower(line)
		for _, m := range markers {
			if strings.Contains(lower, m) {
				out = append(out, line)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// withoutInfo drops dockerd's info and debug log lines from a command's
// output, which the service manager or init script may echo.
func withoutInfo(output string) string {
	var out []string
	for _, line := range strings.Split(output, "\n") {
		if !strings.Contains(line, "level=info") && !strings.Contains(line, "level=debug") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// describeSuccess summarises what proved that dockerd acted.
func (p *actPlan) describeSuccess(rep report) string {
	parts := []string{"dockerd responds as pid " + rep.text("pid")}
	if p.action == "restart" {
		parts[0] += " (was " + rep.text("old_pid") + ")"
	}
	if len(p.work.InsecureAdded) > 0 {
		parts = append(parts, "docker info lists "+strings.Join(p.work.InsecureAdded, ", ")+" as insecure")
	}
	if len(p.work.InsecureRemoved) > 0 {
		parts = append(parts, "docker info no longer lists "+strings.Join(p.work.InsecureRemoved, ", "))
	}
	if ok := rep.all("tls_ok"); len(ok) > 0 {
		parts = append(parts, "TLS to "+strings.Join(ok, ", ")+" verifies")
	}
	if rep.has("tls_skipped") {
		parts = append(parts, "TLS check skipped: "+rep.text("tls_skipped"))
	}
	return strings.Join(parts, "; ")
}

// report is the decoded "KEY BASE64" lines of a dockerd script.
type report map[string][]string

func parseReport(out []byte) report {
	rep := report{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), " ")
		data, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			continue
		}
		rep[k] = append(rep[k], strings.TrimRight(string(data), "\n"))
	}
	return rep
}

func (r report) has(key string) bool { return len(r[key]) > 0 }

func (r report) all(key string) []string { return r[key] }

// text returns the last value of key, or "".
func (r report) text(key string) string {
	if v := r[key]; len(v) > 0 {
		return v[len(v)-1]
	}
	return ""
}

func (r report) int(key string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(r.text(key)))
	return n
}

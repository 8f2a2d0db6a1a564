package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/regtrust/regtrust/internal/sshtest"
	"github.com/regtrust/regtrust/internal/testpki"
	"github.com/regtrust/regtrust/inventory"
)

// asCLIEnv makes the test binary act as the regtrust command, so that
// the examples' shell commands run the code under test.
const asCLIEnv = "REGTRUST_TEST_AS_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(asCLIEnv) == "1" {
		drain, stop := drainOnInterrupt(os.Stderr)
		code := run(context.Background(), drain, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// exampleRoot is a throwaway copy of the controller paths that the
// examples name, with an in-process host per inventory entry.
type exampleRoot struct {
	dir   string // stands for /
	bin   string // holds regtrust
	roots []string
}

// newExampleRoot starts the given number of in-process hosts and writes
// /etc/regtrust/{site.yml,inventory.yml,known_hosts} and an SSH key for
// them under a temporary folder.
func newExampleRoot(t *testing.T, hosts int) *exampleRoot {
	t.Helper()
	e := &exampleRoot{dir: t.TempDir(), bin: t.TempDir()}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(exe, filepath.Join(e.bin, "regtrust")); err != nil {
		t.Fatal(err)
	}
	etc := e.path("/etc/regtrust")
	for _, d := range []string{etc, e.path("/etc/regtrust/ssh"), e.path("/run/lock"), e.path("/var/lib/regtrust"), e.path("/var/lib/prometheus/node-exporter")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var inv strings.Builder
	var known []byte
	inv.WriteString("all:\n  hosts:\n")
	for i := 1; i <= hosts; i++ {
		srv := sshtest.NewServer(t)
		root := t.TempDir()
		e.roots = append(e.roots, root)
		fmt.Fprintf(&inv, "    node%02d:\n      ansible_host: 127.0.0.1\n      ansible_port: %d\n      ansible_user: %s\n", i, srv.Port, srv.User)
		fmt.Fprintf(&inv, "      ansible_ssh_private_key_file: %s\n      docker_certs_dir: %s/certs.d\n", srv.ClientKeyFile, root)
		data, err := os.ReadFile(srv.KnownHostsFile)
		if err != nil {
			t.Fatal(err)
		}
		known = append(known, data...)
		key, err := os.ReadFile(srv.ClientKeyFile)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(e.path("/etc/regtrust/ssh/id_ed25519"), key, 0o600)
	}
	_, caPEM := testpki.NewCA(t, "Example Root")
	files := map[string][]byte{
		"inventory.yml": []byte(inv.String()),
		"known_hosts":   known,
		"ca.pem":        caPEM,
		"site.yml": []byte(`- hosts: all
  registries:
    lab: {address: "registry.lab.test:5000", ca_file: ca.pem}
  tasks:
    - place_docker_cert: {registry: lab}
`),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(etc, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A CI checkout holds the playbook and inventory in its folder.
	for _, name := range []string{"site.yml", "inventory.yml", "ca.pem"} {
		os.Symlink(filepath.Join(etc, name), filepath.Join(e.dir, name))
	}
	return e
}

// path returns where the controller path p lives in the copy.
func (e *exampleRoot) path(p string) string { return filepath.Join(e.dir, p) }

// rewrite moves the controller paths in text into the copy.
func (e *exampleRoot) rewrite(text string) string {
	text = strings.ReplaceAll(text, "/usr/local/bin/regtrust", filepath.Join(e.bin, "regtrust"))
	for _, prefix := range []string{"/etc/regtrust", "/run/lock", "/var/lib"} {
		text = strings.ReplaceAll(text, prefix, e.path(prefix))
	}
	return text
}

// shell runs script with sh in the copy's root folder, with regtrust on
// PATH, and returns the exit status and output.
func (e *exampleRoot) shell(t *testing.T, script string, env ...string) (int, string, string) {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), "/bin/sh", "-c", script)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), asCLIEnv+"=1", "PATH="+e.bin+":/usr/bin:/bin", "HOME="+e.dir)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %q: %v", script, err)
	}
	return code, stdout.String(), stderr.String()
}

func (e *exampleRoot) converged(t *testing.T) int {
	t.Helper()
	n := 0
	for _, root := range e.roots {
		if _, err := os.Stat(filepath.Join(root, "certs.d", "registry.lab.test:5000", "ca.crt")); err == nil {
			n++
		}
	}
	return n
}

func readExample(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

var cronField = regexp.MustCompile(`^(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?(,(\*|[0-9]+(-[0-9]+)?)(/[0-9]+)?)*$`)

// cronJob is a line of an /etc/cron.d file.
type cronJob struct {
	schedule []string
	user     string
	command  string
}

// parseCronD reads an /etc/cron.d file: comments, NAME=value lines and
// job lines of five time fields, a user and a command.
func parseCronD(t *testing.T, text string) (map[string]string, []cronJob) {
	t.Helper()
	env := map[string]string{}
	var jobs []cronJob
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && !strings.ContainsAny(k, " \t*") {
			env[k] = v
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 7 {
			t.Fatalf("line %d: %q has %d fields; want 5 time fields, a user and a command", n, line, len(fields))
		}
		for i, f := range fields[:5] {
			if !cronField.MatchString(f) {
				t.Errorf("line %d: time field %d %q is not valid cron syntax", n, i+1, f)
			}
		}
		if strings.Contains(line, "%") {
			t.Errorf("line %d: an unescaped %% ends the command in crontab syntax", n)
		}
		cmd := strings.Join(fields[6:], " ")
		jobs = append(jobs, cronJob{schedule: fields[:5], user: fields[5], command: cmd})
	}
	return env, jobs
}

// TestExampleCrontab runs the crontab line's command twice against
// in-process hosts. The first run changes the hosts and prints the
// changes. The second finds nothing to do and prints nothing, so cron
// mails nothing.
func TestExampleCrontab(t *testing.T) {
	env, jobs := parseCronD(t, readExample(t, "cron/regtrust"))
	if len(jobs) != 1 {
		t.Fatalf("found %d jobs; want 1", len(jobs))
	}
	if env["SHELL"] != "/bin/sh" || !strings.Contains(env["PATH"], "/usr/local/bin") {
		t.Errorf("environment = %v; want SHELL=/bin/sh and /usr/local/bin on PATH", env)
	}
	job := jobs[0]
	if job.user != "root" {
		t.Errorf("user = %s; want root", job.user)
	}
	e := newExampleRoot(t, 2)
	command := e.rewrite(job.command)

	code, out, errOut := e.shell(t, command)
	if code != 0 {
		t.Fatalf("first run: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "node01,node02 (2 hosts)") && !strings.Contains(out, "node01: place_docker_cert") {
		t.Errorf("first run does not report its changes:\n%s", out)
	}
	if n := e.converged(t); n != 2 {
		t.Errorf("%d hosts converged; want 2", n)
	}
	code, out, errOut = e.shell(t, command)
	if code != 0 || out != "" || errOut != "" {
		t.Errorf("second run: exit %d, stdout %q, stderr %q; want 0 and no output", code, out, errOut)
	}
	for _, file := range []string{"/var/lib/regtrust/last-run.json", "/var/lib/prometheus/node-exporter/regtrust.prom", "/run/lock/regtrust.lock"} {
		if _, err := os.Stat(e.path(file)); err != nil {
			t.Errorf("the job did not write %s: %v", file, err)
		}
	}
}

// unitFile is a systemd unit: section name to directive name to values.
type unitFile map[string]map[string][]string

// systemdDirectives are the directives the examples may use, by section:
// a misspelt one is an error here, as systemd would only warn.
var systemdDirectives = map[string][]string{
	"Unit":    {"Description", "Documentation", "Wants", "After", "Requires"},
	"Service": {"Type", "ExecStart", "SuccessExitStatus", "StateDirectory", "ProtectSystem", "ProtectHome", "ReadWritePaths", "PrivateTmp", "NoNewPrivileges", "User", "Environment"},
	"Timer":   {"OnCalendar", "RandomizedDelaySec", "Persistent", "Unit", "OnBootSec"},
	"Install": {"WantedBy"},
}

// parseUnit reads a unit file in systemd's INI syntax: [Section] headers,
// Key=Value lines, comments starting with # or ;.
func parseUnit(t *testing.T, text string) unitFile {
	t.Helper()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case strings.HasSuffix(line, "\\"):
			t.Fatalf("line %d: continuation lines are not used in the examples", n)
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				t.Fatalf("line %d: %q is not a section header", n, line)
			}
			section = line[1 : len(line)-1]
			if _, ok := systemdDirectives[section]; !ok {
				t.Errorf("line %d: unknown section [%s]", n, section)
			}
			if u[section] != nil {
				t.Errorf("line %d: section [%s] appears twice", n, section)
			}
			u[section] = map[string][]string{}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Fatalf("line %d: %q is not Key=Value inside a section", n, line)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !slices.Contains(systemdDirectives[section], k) {
			t.Errorf("line %d: unknown directive %s in [%s]", n, k, section)
		}
		u[section][k] = append(u[section][k], v)
	}
	return u
}

func (u unitFile) one(t *testing.T, section, key string) string {
	t.Helper()
	v := u[section][key]
	if len(v) != 1 {
		t.Fatalf("[%s] %s is set %d times; want once", section, key, len(v))
	}
	return v[0]
}

// TestExampleSystemdUnits checks the service and timer pair with a
// careful parse, runs the service's ExecStart against in-process hosts,
// and has systemd-analyze verify both units where it is installed.
func TestExampleSystemdUnits(t *testing.T) {
	serviceText := readExample(t, "systemd/regtrust.service")
	timerText := readExample(t, "systemd/regtrust.timer")
	service := parseUnit(t, serviceText)
	timer := parseUnit(t, timerText)

	if got := service.one(t, "Service", "Type"); got != "oneshot" {
		t.Errorf("Type = %s; want oneshot, so the timer waits for the run to end", got)
	}
	execStart := service.one(t, "Service", "ExecStart")
	if !strings.HasPrefix(execStart, "/") {
		t.Errorf("ExecStart %q must start with an absolute path", execStart)
	}
	if got := service.one(t, "Service", "SuccessExitStatus"); !slices.Contains(strings.Fields(got), strconv.Itoa(exitLocked)) {
		t.Errorf("SuccessExitStatus = %s; want it to include %d, the status of a locked-out run", got, exitLocked)
	}
	for _, p := range strings.Fields(service.one(t, "Service", "ReadWritePaths")) {
		if !strings.Contains(execStart, p) {
			t.Errorf("ReadWritePaths lists %s, which ExecStart does not use", p)
		}
	}
	if got := timer.one(t, "Timer", "OnCalendar"); !regexp.MustCompile(`^\*:0/[0-9]+$`).MatchString(got) {
		t.Errorf("OnCalendar = %s; want an every-N-minutes spec such as *:0/30", got)
	}
	if got := timer.one(t, "Install", "WantedBy"); got != "timers.target" {
		t.Errorf("WantedBy = %s; want timers.target", got)
	}
	if _, ok := timer["Timer"]["Unit"]; ok {
		t.Errorf("the timer names a Unit; want the default, regtrust.service")
	}

	e := newExampleRoot(t, 1)
	code, out, errOut := e.shell(t, e.rewrite(execStart))
	if code != 0 || e.converged(t) != 1 {
		t.Errorf("ExecStart: exit %d, %d hosts converged; want 0 and 1\n%s%s", code, e.converged(t), out, errOut)
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Logf("systemd-analyze is not installed; the units were checked by the parse above only")
		return
	}
	dir := t.TempDir()
	unitDir := filepath.Join(dir, "units")
	os.MkdirAll(unitDir, 0o755)
	// verify checks that ExecStart's program exists, so it points at
	// the test's regtrust.
	os.WriteFile(filepath.Join(unitDir, "regtrust.service"), []byte(e.rewrite(serviceText)), 0o644)
	os.WriteFile(filepath.Join(unitDir, "regtrust.timer"), []byte(timerText), 0o644)
	cmd := exec.Command(analyze, "verify", "--man=no", filepath.Join(unitDir, "regtrust.service"), filepath.Join(unitDir, "regtrust.timer"))
	cmd.Env = append(os.Environ(), "SYSTEMD_UNIT_PATH="+unitDir+":")
	output, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, output)
	}
	for _, line := range strings.Split(string(output), "\n") {
		if strings.Contains(line, "regtrust") {
			t.Errorf("systemd-analyze verify reports: %s", line)
		}
	}
}

// gitlabJob is the part of a GitLab CI job that the test runs.
type gitlabJob struct {
	Rules        []map[string]string `yaml:"rules"`
	BeforeScript []string            `yaml:"before_script"`
	Script       []string            `yaml:"script"`
	AllowFailure struct {
		ExitCodes []int `yaml:"exit_codes"`
	} `yaml:"allow_failure"`
	Artifacts struct {
		When  string   `yaml:"when"`
		Paths []string `yaml:"paths"`
	} `yaml:"artifacts"`
}

// gitlabOutcome is the job's result as GitLab reports it: passed, passed
// with warnings (an allowed exit code) or failed. GitLab stops a job at
// the first script line that fails, as sh -e does.
func (j gitlabJob) outcome(t *testing.T, e *exampleRoot, env ...string) (string, string) {
	t.Helper()
	script := "set -e\n" + strings.Join(append(slices.Clone(j.BeforeScript), j.Script...), "\n")
	code, out, errOut := e.shell(t, script, env...)
	switch {
	case code == 0:
		return "passed", out + errOut
	case slices.Contains(j.AllowFailure.ExitCodes, code):
		return "passed with warnings", out + errOut
	}
	return fmt.Sprintf("failed (exit %d)", code), out + errOut
}

// TestExampleGitLabCI runs the merge request job's script lines. With
// changes pending, the job passes with a warning, shows the grouped diff
// and keeps the plan. With a host that cannot be reached, it fails.
func TestExampleGitLabCI(t *testing.T) {
	var doc map[string]gitlabJob
	if err := yaml.Unmarshal([]byte(readExample(t, "ci/gitlab-ci.yml")), &doc); err != nil {
		t.Fatal(err)
	}
	job, ok := doc["regtrust-plan"]
	if !ok {
		t.Fatalf("no job regtrust-plan in %v", doc)
	}
	if len(job.Rules) == 0 || !strings.Contains(job.Rules[0]["if"], "merge_request_event") {
		t.Errorf("rules = %v; want the job to run for merge requests", job.Rules)
	}
	if !strings.Contains(strings.Join(job.Script, "\n"), "--check --diff --detailed-exitcode") {
		t.Errorf("script = %v; want --check --diff --detailed-exitcode", job.Script)
	}

	e := newExampleRoot(t, 2)
	known, _ := os.ReadFile(e.path("/etc/regtrust/known_hosts"))
	env := []string{"SSH_KNOWN_HOSTS=" + string(known), "SSH_PRIVATE_KEY_FILE=" + e.path("/etc/regtrust/ssh/id_ed25519")}
	result, log := job.outcome(t, e, env...)
	if result != "passed with warnings" {
		t.Errorf("job with pending changes %s; want passed with warnings\n%s", result, log)
	}
	for _, want := range []string{"CHANGES (check mode: nothing was changed)", "create ", "registry.lab.test:5000/ca.crt"} {
		if !strings.Contains(log, want) {
			t.Errorf("job log lacks %q:\n%s", want, log)
		}
	}
	for _, p := range job.Artifacts.Paths {
		if _, err := os.Stat(filepath.Join(e.dir, p)); err != nil {
			t.Errorf("artifact %s: %v", p, err)
		}
	}
	if n := e.converged(t); n != 0 {
		t.Errorf("the merge request job changed %d hosts; want none", n)
	}

	result, log = job.outcome(t, e, "SSH_KNOWN_HOSTS=", "SSH_PRIVATE_KEY_FILE="+e.path("/etc/regtrust/ssh/id_ed25519"))
	if !strings.HasPrefix(result, "failed") {
		t.Errorf("job with unknown host keys %s; want failed\n%s", result, log)
	}
}

// TestExampleGitHubActions runs the workflow's run steps with bash -e, as
// GitHub's runner does, and checks the step result, output and summary.
func TestExampleGitHubActions(t *testing.T) {
	var wf struct {
		On   map[string]any `yaml:"on"`
		Jobs map[string]struct {
			Steps []struct {
				ID   string            `yaml:"id"`
				Uses string            `yaml:"uses"`
				Run  string            `yaml:"run"`
				Env  map[string]string `yaml:"env"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	if err := yaml.Unmarshal([]byte(readExample(t, "ci/github-actions.yml")), &wf); err != nil {
		t.Fatal(err)
	}
	if _, ok := wf.On["pull_request"]; !ok {
		t.Errorf("on = %v; want pull_request", wf.On)
	}
	e := newExampleRoot(t, 1)
	known, _ := os.ReadFile(e.path("/etc/regtrust/known_hosts"))
	key, _ := os.ReadFile(e.path("/etc/regtrust/ssh/id_ed25519"))
	secrets := map[string]string{"SSH_KNOWN_HOSTS": string(known), "SSH_PRIVATE_KEY": string(key)}
	output := filepath.Join(t.TempDir(), "output")
	summary := filepath.Join(t.TempDir(), "summary")

	ran := 0
	for _, step := range wf.Jobs["plan"].Steps {
		if step.Run == "" {
			continue
		}
		env := []string{"GITHUB_OUTPUT=" + output, "GITHUB_STEP_SUMMARY=" + summary}
		for k, v := range step.Env {
			name := strings.TrimSuffix(strings.TrimPrefix(v, "${{ secrets."), " }}")
			env = append(env, k+"="+secrets[name])
		}
		code, out, errOut := e.shell(t, "exec bash --noprofile --norc -eo pipefail -c "+shellQuote(step.Run), env...)
		if code != 0 {
			t.Fatalf("step %q: exit %d\n%s%s", step.ID, code, out, errOut)
		}
		ran++
	}
	if ran != 2 {
		t.Errorf("ran %d run steps; want 2", ran)
	}
	if data, _ := os.ReadFile(output); !strings.Contains(string(data), "status=2") {
		t.Errorf("GITHUB_OUTPUT = %q; want status=2 for pending changes", data)
	}
	if data, _ := os.ReadFile(summary); !strings.Contains(string(data), "CHANGES (check mode") {
		t.Errorf("GITHUB_STEP_SUMMARY = %q; want the grouped changes", data)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "plan.json")); err != nil {
		t.Errorf("plan.json for the upload step: %v", err)
	}
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// TestExampleKubernetesCronJob checks the CronJob's indexed completions
// against its --shard argument, then runs the container's command once
// per index, expanding $(SHARD_INDEX) as the kubelet does, and checks
// that every host is converged by exactly one index.
func TestExampleKubernetesCronJob(t *testing.T) {
	var cj struct {
		Kind string `yaml:"kind"`
		Spec struct {
			ConcurrencyPolicy string `yaml:"concurrencyPolicy"`
			JobTemplate       struct {
				Spec struct {
					CompletionMode string `yaml:"completionMode"`
					Completions    int    `yaml:"completions"`
					Parallelism    int    `yaml:"parallelism"`
					Template       struct {
						Spec struct {
							Containers []struct {
								Command []string `yaml:"command"`
								Args    []string `yaml:"args"`
								Env     []struct {
									Name      string `yaml:"name"`
									ValueFrom struct {
										FieldRef struct {
											FieldPath string `yaml:"fieldPath"`
										} `yaml:"fieldRef"`
									} `yaml:"valueFrom"`
								} `yaml:"env"`
							} `yaml:"containers"`
						} `yaml:"spec"`
					} `yaml:"template"`
				} `yaml:"spec"`
			} `yaml:"jobTemplate"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal([]byte(readExample(t, "kubernetes/cronjob.yaml")), &cj); err != nil {
		t.Fatal(err)
	}
	job := cj.Spec.JobTemplate.Spec
	if cj.Kind != "CronJob" || cj.Spec.ConcurrencyPolicy != "Forbid" || job.CompletionMode != "Indexed" {
		t.Errorf("kind %s, concurrencyPolicy %s, completionMode %s; want CronJob, Forbid, Indexed", cj.Kind, cj.Spec.ConcurrencyPolicy, job.CompletionMode)
	}
	if len(job.Template.Spec.Containers) != 1 {
		t.Fatalf("%d containers; want 1", len(job.Template.Spec.Containers))
	}
	c := job.Template.Spec.Containers[0]
	if len(c.Env) != 1 || c.Env[0].Name != "SHARD_INDEX" || c.Env[0].ValueFrom.FieldRef.FieldPath != "metadata.annotations['batch.kubernetes.io/job-completion-index']" {
		t.Errorf("env = %+v; want SHARD_INDEX from the job completion index annotation", c.Env)
	}
	shardArg := fmt.Sprintf("$(SHARD_INDEX)/%d", job.Completions)
	if i := slices.Index(c.Args, "--shard"); i < 0 || i+1 >= len(c.Args) || c.Args[i+1] != shardArg {
		t.Fatalf("args = %v; want --shard %s, so that N matches completions", c.Args, shardArg)
	}

	e := newExampleRoot(t, 6)
	converged := map[string]int{}
	for index := 0; index < job.Completions; index++ {
		var words []string
		for _, w := range append(slices.Clone(c.Command), c.Args...) {
			w = strings.ReplaceAll(w, "$(SHARD_INDEX)", strconv.Itoa(index))
			words = append(words, shellQuote(e.rewrite(w)))
		}
		code, out, errOut := e.shell(t, strings.Join(words, " "))
		if code != 0 {
			t.Fatalf("index %d: exit %d\n%s%s", index, code, out, errOut)
		}
		for i, root := range e.roots {
			if _, err := os.Stat(filepath.Join(root, "certs.d", "registry.lab.test:5000", "ca.crt")); err == nil && converged[root] == 0 {
				converged[root] = index + 1
				if got := inventoryShardOf(fmt.Sprintf("node%02d", i+1), job.Completions); got != index {
					t.Errorf("index %d converged node%02d, whose share is %d", index, i+1, got)
				}
			}
		}
	}
	if len(converged) != len(e.roots) {
		t.Errorf("%d of %d hosts converged over all indexes; want all", len(converged), len(e.roots))
	}
}

func inventoryShardOf(name string, n int) int { return inventory.ShardOf(name, n) }

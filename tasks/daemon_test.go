package tasks

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// daemonRun runs steps on one Target the way the runner runs a play's
// tasks and handlers: gather, then each step with its notify list, with a
// flush after each step.
type daemonRun struct {
	t      *testing.T
	target *Target
	conn   *localConn
}

func newDaemonRun(t *testing.T, vars mapVars, apply bool, steps ...Task) *daemonRun {
	t.Helper()
	conn := &localConn{}
	tg := NewTarget("node1", vars, conn, apply)
	probes, err := tg.JournalProbes()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range steps {
		probes = append(probes, s.Probes(tg)...)
	}
	if err := tg.Gather(context.Background(), probes); err != nil {
		t.Fatalf("Gather: %v", err)
	}
	if err := tg.LoadJournal(); err != nil {
		t.Fatalf("LoadJournal: %v", err)
	}
	return &daemonRun{t: t, target: tg, conn: conn}
}

// step runs one task or handler. notify names the handlers it notifies.
func (r *daemonRun) step(task Task, notify ...string) (Result, error) {
	r.t.Helper()
	ctx := context.Background()
	r.target.BeginStep(notify, "")
	res, err := task.CheckApply(ctx, r.target, r.target.Applying())
	if ferr := r.target.Flush(ctx); ferr != nil && err == nil {
		err = ferr
	}
	return res, err
}

func TestDockerdFacts(t *testing.T) {
	f := newFakeDocker(t)
	pid := f.startDaemon("-H", "fd://", "--insecure-registry=flagged.example:5000")
	f.writeFile(filepath.Join(f.state, "containers"), "3 true\n", 0o644)
	task := buildTask(t, RestartDockerName, "")
	run := newDaemonRun(t, f.vars(), false, task)
	d, err := readDockerd(run.target)
	if err != nil {
		t.Fatal(err)
	}
	if d.pid != pid {
		t.Errorf("pid = %d; want %d", d.pid, pid)
	}
	if d.manager != "none" {
		t.Errorf("manager = %q; want none, from docker_service_manager", d.manager)
	}
	if want := []string{"-H", "fd://", "--insecure-registry=flagged.example:5000"}; len(d.cmdline) < 3 || !slices.Equal(d.cmdline[len(d.cmdline)-3:], want) {
		t.Errorf("cmdline = %q; want it to end with %q", d.cmdline, want)
	}
	if d.containers != 3 || !d.liveRestore {
		t.Errorf("containers, live-restore = %d, %v; want 3, true", d.containers, d.liveRestore)
	}
}

func TestDockerdFactsNotRunning(t *testing.T) {
	f := newFakeDocker(t)
	f.writeFile(f.pidfile, "999999999\n", 0o644)
	task := buildTask(t, RestartDockerName, "")
	run := newDaemonRun(t, f.vars(), false, task)
	d, err := readDockerd(run.target)
	if err != nil {
		t.Fatal(err)
	}
	if d.pid != 0 || d.cmdline != nil || d.containers != -1 {
		t.Errorf("state = %+v; want pid 0, no command line, unknown containers", d)
	}
}

func TestDaemonJSONFlagConflict(t *testing.T) {
	f := newFakeDocker(t)
	pid := f.startDaemon("--insecure-registry", "flagged.example:5000")
	orig := "{\n  \"debug\": true\n}\n"
	f.writeFile(f.daemonJSON, orig, 0o644)
	task := buildTask(t, DaemonJSONName, `{registries: ["legacy.example:5000"]}`)
	for _, apply := range []bool{false, true} {
		run := newDaemonRun(t, f.vars(), apply, task)
		_, err := run.step(task, RestartDockerName)
		if err == nil {
			t.Fatalf("apply=%v: no error; want the flag conflict", apply)
		}
		checkContains(t, fmt.Sprintf("apply=%v: error", apply), err.Error(),
			`"insecure-registries"`, "--insecure-registry", "command line of the running dockerd, pid "+strconv.Itoa(pid), "left "+f.daemonJSON+" unchanged")
		if got := readFile(t, f.daemonJSON); got != orig {
			t.Errorf("apply=%v: daemon.json = %q; want it unchanged", apply, got)
		}
		if _, err := os.Stat(filepath.Join(f.dir, "state-dir", journalFile)); !os.IsNotExist(err) {
			t.Errorf("apply=%v: a journal was written for a rejected change (stat error %v)", apply, err)
		}
	}
}

func TestDaemonJSONOtherConfigFile(t *testing.T) {
	f := newFakeDocker(t)
	f.startDaemon("--config-file=/srv/docker/daemon.json")
	task := buildTask(t, DaemonJSONName, `{registries: ["legacy.example:5000"]}`)
	run := newDaemonRun(t, f.vars(), true, task)
	_, err := run.step(task)
	if err == nil || !strings.Contains(err.Error(), "docker_daemon_json=/srv/docker/daemon.json") {
		t.Fatalf("error = %v; want one naming the --config-file and the host variable to set", err)
	}
	if _, err := os.Stat(f.daemonJSON); !os.IsNotExist(err) {
		t.Errorf("%s was written although dockerd reads another file (stat error %v)", f.daemonJSON, err)
	}
}

func TestDaemonJSONValidateRejects(t *testing.T) {
	f := newFakeDocker(t)
	f.startDaemon()
	f.writeFile(filepath.Join(f.state, "validate"), "", 0o644)
	orig := "{\"debug\": true}\n"
	f.writeFile(f.daemonJSON, orig, 0o644)
	task := buildTask(t, DaemonJSONName, `{registries: ["reject.example:5000"]}`)
	run := newDaemonRun(t, f.vars(), true, task)
	_, err := run.step(task, RestartDockerName)
	if err == nil {
		t.Fatal("no error; want dockerd --validate to reject the file")
	}
	checkContains(t, "error", err.Error(), "check new "+f.daemonJSON+" with dockerd --validate", "reject.example is not allowed")
	if got := readFile(t, f.daemonJSON); got != orig {
		t.Errorf("daemon.json = %q; want it unchanged", got)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "state-dir", journalFile)); !os.IsNotExist(err) {
		t.Errorf("journal written although the change was rejected (stat error %v)", err)
	}

	// A file that passes is written, with its backup.
	task = buildTask(t, DaemonJSONName, `{registries: ["legacy.example:5000"]}`)
	run = newDaemonRun(t, f.vars(), true, task)
	if _, err := run.step(task); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, f.daemonJSON+backupSuffix); got != orig {
		t.Errorf("backup = %q; want %q", got, orig)
	}
}

func TestNeedDaemonAction(t *testing.T) {
	tests := []struct {
		name            string
		before, after   string
		reload, restart int
	}{
		{"insecure-only", `{"debug": true}`, `{"debug": true, "insecure-registries": ["a"]}`, 1, 0},
		{"mirrors-and-insecure", `{}`, `{"insecure-registries": ["a"], "registry-mirrors": ["https://m"]}`, 2, 0},
		{"storage-driver", `{"storage-driver": "vfs"}`, `{"storage-driver": "overlay2"}`, 0, 1},
		{"both", `{"data-root": "/a"}`, `{"data-root": "/b", "debug": true}`, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := NewTarget("node1", nil, &localConn{}, false)
			if err := needDaemonAction(tg, "/etc/docker/daemon.json", []byte(tt.before), []byte(tt.after)); err != nil {
				t.Fatal(err)
			}
			if got := len(tg.ReloadReasons()); got != tt.reload {
				t.Errorf("reload reasons = %q; want %d", tg.ReloadReasons(), tt.reload)
			}
			if got := len(tg.RestartReasons()); got != tt.restart {
				t.Errorf("restart reasons = %q; want %d", tg.RestartReasons(), tt.restart)
			}
		})
	}
}

// insecureRun changes daemon.json and runs the restart handler, as a
// play with daemon_json_insecure notifying restart_docker_if_changed
// does.
func insecureRun(t *testing.T, vars mapVars, args string) (Result, error) {
	t.Helper()
	task := buildTask(t, DaemonJSONName, args)
	handler := buildTask(t, RestartDockerName, "")
	run := newDaemonRun(t, vars, true, task, handler)
	if _, err := run.step(task, RestartDockerName); err != nil {
		t.Fatalf("daemon_json_insecure: %v", err)
	}
	return run.step(handler)
}

func TestRestartDockerReloads(t *testing.T) {
	f := newFakeDocker(t)
	pid := f.startDaemon()
	f.writeFile(f.daemonJSON, "{\"debug\": true}\n", 0o644)
	vars := f.vars()
	vars["docker_reload_command"] = "printf 'legacy.example:5000 127.0.0.0/8 ' > " + shellQuote(filepath.Join(f.state, "insecure"))
	res, err := insecureRun(t, vars, `{registries: ["legacy.example:5000"]}`)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Message, "reload dockerd (insecure-registries changed in "+f.daemonJSON+")") {
		t.Errorf("message = %q; want a reload for the insecure-registries change", res.Message)
	}
	if !strings.Contains(res.Message, "docker info lists legacy.example:5000 as insecure") {
		t.Errorf("message = %q; want it to say docker info lists the entry", res.Message)
	}
	if f.restarts() != 0 || f.currentPID() != pid {
		t.Errorf("restarts = %d, pid %d; want no restart and pid %d", f.restarts(), f.currentPID(), pid)
	}
}

func TestRestartDockerReloadsCurrentDaemon(t *testing.T) {
	f := newFakeDocker(t)
	gathered := f.startDaemon()
	f.writeFile(f.daemonJSON, "{\"debug\": true}\n", 0o644)
	f.writeFile(filepath.Join(f.state, "next-insecure"), "legacy.example:5000 ", 0o644)
	task := buildTask(t, DaemonJSONName, `{registries: ["legacy.example:5000"]}`)
	handler := buildTask(t, RestartDockerName, "")
	run := newDaemonRun(t, f.vars(), true, task, handler)
	if _, err := run.step(task, RestartDockerName); err != nil {
		t.Fatal(err)
	}
	// An earlier handler of the run restarted dockerd after the gather.
	current := f.startDaemon()
	res, err := run.step(handler)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.Message, "reload dockerd") {
		t.Errorf("message = %q; want a reload", res.Message)
	}
	hups := strings.Fields(readFile(t, filepath.Join(f.state, "hup")))
	if !slices.Equal(hups, []string{strconv.Itoa(current)}) {
		t.Errorf("SIGHUP went to pids %q; want only the running dockerd %d, not %d from the gather", hups, current, gathered)
	}
}

func TestRestartDockerReloadNotTaken(t *testing.T) {
	f := newFakeDocker(t)
	f.startDaemon()
	orig := "{\n  \"debug\": true\n}\n"
	f.writeFile(f.daemonJSON, orig, 0o644)
	f.writeFile(f.log, "time=\"x\" level=info msg=\"Got signal to reload configuration\"\ntime=\"x\" level=error msg=\"Error reconfiguring the daemon: bad registry\"\n", 0o644)
	vars := f.vars()
	vars["docker_reload_command"] = "true"
	vars["docker_wait_timeout"] = "1s"
	_, err := insecureRun(t, vars, `{registries: ["legacy.example:5000"]}`)
	if err == nil {
		t.Fatal("no error; want the reload reported as not taken")
	}
	checkContains(t, "error", err.Error(),
		"did not take the reload within 1s",
		"docker info does not list legacy.example:5000",
		"Error reconfiguring the daemon: bad registry",
		"restored "+f.daemonJSON+" from "+f.daemonJSON+backupSuffix,
		"ran the reload command again, and dockerd responds",
	)
	if got := readFile(t, f.daemonJSON); got != orig {
		t.Errorf("daemon.json = %q after the rollback; want %q", got, orig)
	}
}

func TestRestartDockerRollsBack(t *testing.T) {
	f := newFakeDocker(t)
	oldPID := f.startDaemon()
	orig := "{\"storage-driver\": \"vfs\"}\n"
	f.writeFile(f.daemonJSON, orig, 0o644)
	f.writeFile(f.log, "time=\"x\" level=info msg=\"Starting up\"\nunable to configure the Docker daemon with file "+f.daemonJSON+": the following directives are specified both as a flag and in the configuration file: insecure-registries\n", 0o644)
	vars := f.vars()
	// The first restart fails as dockerd does when it cannot start; the
	// second one, after the rollback, works.
	failed := filepath.Join(f.state, "failed-once")
	vars["docker_restart_command"] = "if [ ! -e " + shellQuote(failed) + " ]; then touch " + shellQuote(failed) + "; echo 'Job for docker.service failed' >&2; exit 1; fi; " + f.restartCommand()
	tg := daemonRunWithRestart(t, vars)
	handler := buildTask(t, RestartDockerName, "")
	_, err := tg.step(handler)
	if err == nil {
		t.Fatal("no error; want the failed restart reported")
	}
	checkContains(t, "error", err.Error(),
		"restart command",
		"Job for docker.service failed",
		"specified both as a flag and in the configuration file",
		"restored "+f.daemonJSON,
		"ran the restart command again, and dockerd responds as pid "+strconv.Itoa(f.currentPID()),
	)
	if got := readFile(t, f.daemonJSON); got != orig {
		t.Errorf("daemon.json = %q after the rollback; want %q", got, orig)
	}
	if f.currentPID() == oldPID {
		t.Errorf("pid = %d; want a new fake dockerd after the second restart", oldPID)
	}
	if len(tg.target.RestartReasons()) != 0 {
		t.Errorf("restart reasons = %q after a rollback that brought dockerd back; want none", tg.target.RestartReasons())
	}
}

// daemonRunWithRestart makes a daemon.json change that needs a restart
// (a trust store change) and returns the run, ready for the handler.
func daemonRunWithRestart(t *testing.T, vars mapVars) *daemonRun {
	t.Helper()
	task := buildTask(t, DaemonJSONName, `{registries: ["legacy.example:5000"]}`)
	run := newDaemonRun(t, vars, true, task, buildTask(t, RestartDockerName, ""))
	if _, err := run.step(task, RestartDockerName); err != nil {
		t.Fatalf("daemon_json_insecure: %v", err)
	}
	run.target.NeedRestart("the OS trust store changed, and dockerd reads it only at start")
	return run
}

func TestRestartDockerRollbackRemovesNewFile(t *testing.T) {
	f := newFakeDocker(t)
	f.startDaemon()
	vars := f.vars()
	vars["docker_restart_command"] = "exit 1"
	run := daemonRunWithRestart(t, vars)
	if _, err := os.Stat(f.daemonJSON); err != nil {
		t.Fatalf("daemon.json not written: %v", err)
	}
	_, err := run.step(buildTask(t, RestartDockerName, ""))
	if err == nil || !strings.Contains(err.Error(), "removed "+f.daemonJSON+", which did not exist before") {
		t.Fatalf("error = %v; want the created file removed", err)
	}
	if _, err := os.Stat(f.daemonJSON); !os.IsNotExist(err) {
		t.Errorf("daemon.json still exists after the rollback (stat error %v)", err)
	}
	// The fake dockerd still runs as before, so the wait after the second
	// restart command, which failed too, still finds it responding.
	if !strings.Contains(err.Error(), "dockerd responds as pid") {
		t.Errorf("error = %q; want it to report that dockerd responds", err)
	}
}

func TestRestartDockerContainersGuard(t *testing.T) {
	tests := []struct {
		name       string
		containers string
		allow      string
		wantErr    bool
	}{
		{"running-without-live-restore", "2 false", "", true},
		{"allowed-by-variable", "2 false", "true", false},
		{"live-restore-on", "2 true", "", false},
		{"none-running", "0 false", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeDocker(t)
			oldPID := f.startDaemon()
			f.writeFile(filepath.Join(f.state, "containers"), tt.containers+"\n", 0o644)
			vars := f.vars()
			vars["docker_restart_command"] = f.restartCommand()
			if tt.allow != "" {
				vars["allow_container_restart"] = tt.allow
			}
			for _, apply := range []bool{false, true} {
				handler := buildTask(t, RestartDockerName, "")
				run := newDaemonRun(t, vars, apply, handler)
				run.target.NeedRestart("the OS trust store changed, and dockerd reads it only at start")
				res, err := run.step(handler)
				if tt.wantErr {
					if err == nil || !strings.Contains(err.Error(), "2 containers are running and live-restore is off") || !strings.Contains(err.Error(), "allow_container_restart: true") {
						t.Errorf("apply=%v: error = %v; want the restart refused with the fix", apply, err)
					}
					if !strings.Contains(err.Error(), "restart of dockerd is pending (the OS trust store changed") {
						t.Errorf("apply=%v: error = %v; want it to report the pending restart and its reason", apply, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("apply=%v: %v", apply, err)
				}
				if !res.Changed || !strings.HasPrefix(res.Message, "restart dockerd") {
					t.Errorf("apply=%v: result %+v; want a restart", apply, res)
				}
			}
			wantRestarts := 1
			if tt.wantErr {
				wantRestarts = 0
			}
			if got := f.restarts(); got != wantRestarts {
				t.Errorf("restarts = %d; want %d", got, wantRestarts)
			}
			if !tt.wantErr && f.currentPID() == oldPID {
				t.Errorf("pid = %d after the restart; want a new one", oldPID)
			}
		})
	}
}

func TestRestartDockerSamePIDIsNotARestart(t *testing.T) {
	f := newFakeDocker(t)
	pid := f.startDaemon()
	vars := f.vars()
	vars["docker_restart_command"] = "true"
	vars["docker_wait_timeout"] = "1s"
	handler := buildTask(t, RestartDockerName, "")
	run := newDaemonRun(t, vars, true, handler)
	run.target.NeedRestart("the OS trust store changed, and dockerd reads it only at start")
	_, err := run.step(handler)
	if err == nil || !strings.Contains(err.Error(), "dockerd still runs as pid "+strconv.Itoa(pid)+", the process from before the restart") {
		t.Fatalf("error = %v; want the unchanged pid reported", err)
	}
}

func TestRestartDockerChecksTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "https://")
	serverCA := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	otherCA := testCA(t, "Other Root").PEM

	tests := []struct {
		name    string
		ca      []byte
		wantErr string
	}{
		{"verifies", serverCA, ""},
		{"other-ca", otherCA, "a TLS connection from the host to " + addr + " does not verify"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeDocker(t)
			f.startDaemon()
			vars := f.vars()
			vars["docker_restart_command"] = f.restartCommand()
			certsDir := filepath.Join(f.dir, "certs.d", addr)
			os.MkdirAll(certsDir, 0o755)
			f.writeFile(filepath.Join(certsDir, "ca.crt"), string(tt.ca), 0o644)

			handler := buildTask(t, RestartDockerName, "")
			run := newDaemonRun(t, vars, true, handler)
			run.target.BeginStep(nil, addr)
			run.target.noteChange()
			run.target.NeedRestart("the OS trust store changed, and dockerd reads it only at start")
			res, err := run.step(handler)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(res.Message, "TLS to "+addr+" verifies") {
					t.Errorf("message = %q; want the TLS check reported", res.Message)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v; want one containing %q", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), "verify") {
				t.Errorf("error = %q; want openssl's verify error in it", err)
			}
			if f.restarts() != 1 {
				t.Errorf("restarts = %d; want 1, the TLS failure needs no rollback", f.restarts())
			}
		})
	}
}

func TestRestartDockerNotRunning(t *testing.T) {
	f := newFakeDocker(t)
	vars := f.vars()
	vars["docker_restart_command"] = f.restartCommand()
	handler := buildTask(t, RestartDockerName, "")
	run := newDaemonRun(t, vars, true, handler)
	run.target.NeedRestart("the OS trust store changed, and dockerd reads it only at start")
	res, err := run.step(handler)
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed || !strings.Contains(res.Message, "dockerd is not running") {
		t.Errorf("result = %+v; want no change because dockerd is not running", res)
	}
	if f.restarts() != 0 {
		t.Errorf("restarts = %d; want 0", f.restarts())
	}
}

func TestDockerdOwnError(t *testing.T) {
	conflict := "unable to configure the Docker daemon with file /etc/docker/daemon.json: the following directives are specified both as a flag and in the configuration file: insecure-registries"
	tests := []struct {
		name, validate, log, want string
	}{
		{"validate-output-first", "unable to configure: bad key", conflict, "unable to configure: bad key"},
		{"validate-ok-uses-log", "configuration OK", conflict, conflict},
		{"reason-before-errors", "", "level=error msg=\"Failed to get event\"\n" + conflict + "\nlevel=info msg=x", conflict},
		{"error-lines", "", "level=info msg=a\nlevel=error msg=\"disk full\"\nlevel=info msg=b", `level=error msg="disk full"`},
		{"last-lines", "", "one\ntwo\nthree\nfour", "two | three | four"},
		{"no-log", "", "", "no dockerd log found; set the host variable docker_log_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := report{"validate": {tt.validate}, "log": {tt.log}}
			if got := dockerdOwnError(rep); !strings.Contains(got, tt.want) {
				t.Errorf("dockerdOwnError = %q; want it to contain %q", got, tt.want)
			}
		})
	}
}

package tasks

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/regtrust/regtrust/internal/certs"
	"github.com/regtrust/regtrust/internal/testpki"
)

func testCA(t *testing.T, cn string) *certs.CA {
	t.Helper()
	_, data := testpki.NewCA(t, cn)
	cas, err := certs.ParseCAPEM(data)
	if err != nil {
		t.Fatal(err)
	}
	return &cas[0]
}

func testRegistry(t *testing.T) *Registry {
	return &Registry{Name: "lab", Address: "registry.example.test:5000", CA: testCA(t, "Lab Root CA"), CASource: "test"}
}

func buildTask(t *testing.T, typ, args string, regs ...*Registry) Task {
	t.Helper()
	env := &Env{Registries: map[string]*Registry{}, BaseDir: t.TempDir()}
	for _, r := range regs {
		env.Registries[r.Name] = r
	}
	var node yaml.Node
	if args != "" {
		if err := yaml.Unmarshal([]byte(args), &node); err != nil {
			t.Fatal(err)
		}
	}
	n := &node
	if n.Kind == yaml.DocumentNode {
		n = n.Content[0]
	}
	task, err := New(typ, n, env)
	if err != nil {
		t.Fatalf("New(%s, %s): %v", typ, args, err)
	}
	return task
}

// converge runs task on a fresh Target the way the runner does: gather,
// check/apply, flush.
func convergeTask(t *testing.T, task Task, vars mapVars, conn *localConn, apply bool) (Result, *Target) {
	t.Helper()
	ctx := context.Background()
	tg := NewTarget("node1", vars, conn, apply)
	if err := tg.Gather(ctx, task.Probes(tg)); err != nil {
		t.Fatalf("Gather: %v", err)
	}
	res, err := task.CheckApply(ctx, tg, apply)
	if err != nil {
		t.Fatalf("CheckApply: %v", err)
	}
	if err := tg.Flush(ctx); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	return res, tg
}

func TestPlaceDockerCertConverges(t *testing.T) {
	dir := t.TempDir()
	vars := mapVars{"docker_certs_dir": dir}
	reg := testRegistry(t)
	task := buildTask(t, PlaceDockerCertName, "{registry: lab}", reg)
	conn := &localConn{}
	caPath := filepath.Join(dir, reg.Address, "ca.crt")

	res, _ := convergeTask(t, task, vars, conn, false)
	if !res.Changed {
		t.Errorf("check mode: Changed = false; want true")
	}
	if _, err := os.Stat(caPath); !os.IsNotExist(err) {
		t.Errorf("check mode created %s (stat error %v)", caPath, err)
	}
	if !strings.Contains(res.Diff, "Lab Root CA") || !strings.Contains(res.Diff, reg.CA.SHA256) {
		t.Errorf("diff %q does not describe the CA by subject and fingerprint", res.Diff)
	}

	res, _ = convergeTask(t, task, vars, conn, true)
	if !res.Changed {
		t.Errorf("apply: Changed = false; want true")
	}
	got, err := os.ReadFile(caPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(reg.CA.PEM) {
		t.Errorf("ca.crt = %q; want the CA's PEM", got)
	}
	info, _ := os.Stat(caPath)
	if info.Mode().Perm() != 0o644 {
		t.Errorf("ca.crt mode = %04o; want 0644", info.Mode().Perm())
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, reg.Address, ".*"+tempMarker+"*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}

	sessions := len(conn.scripts)
	res, _ = convergeTask(t, task, vars, conn, true)
	if res.Changed {
		t.Errorf("second apply: Changed = true; want false (message %q)", res.Message)
	}
	if n := len(conn.scripts) - sessions; n != 1 {
		t.Errorf("second apply ran %d commands; want 1 (the gather)", n)
	}
}

func TestPlaceDockerCertClientKeyMode(t *testing.T) {
	dir := t.TempDir()
	reg := testRegistry(t)
	reg.ClientCert = []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	reg.ClientKey = []byte("-----BEGIN PRIVATE KEY-----\nSECRETKEYBYTES\n-----END PRIVATE KEY-----\n")
	task := buildTask(t, PlaceDockerCertName, "{registry: lab}", reg)
	res, _ := convergeTask(t, task, mapVars{"docker_certs_dir": dir}, &localConn{}, true)

	info, err := os.Stat(filepath.Join(dir, reg.Address, "client.key"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("client.key mode = %04o; want 0600", info.Mode().Perm())
	}
	if strings.Contains(res.Diff, "SECRETKEYBYTES") || strings.Contains(res.Message, "SECRETKEYBYTES") {
		t.Errorf("the private key appears in the output: %q", res.Diff)
	}
	if !strings.Contains(res.Diff, "content not shown") {
		t.Errorf("diff %q does not say the key's content is hidden", res.Diff)
	}
}

func TestPlaceDockerCertReplacesOtherCA(t *testing.T) {
	dir := t.TempDir()
	reg := testRegistry(t)
	folder := filepath.Join(dir, reg.Address)
	if err := os.MkdirAll(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	old := testCA(t, "Old Root")
	if err := os.WriteFile(filepath.Join(folder, "ca.crt"), old.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	task := buildTask(t, PlaceDockerCertName, "{registry: lab}", reg)
	res, _ := convergeTask(t, task, mapVars{"docker_certs_dir": dir}, &localConn{}, false)
	if !strings.Contains(res.Diff, "- CN=Old Root") && !strings.Contains(res.Diff, "Old Root") {
		t.Errorf("diff %q does not show the replaced CA", res.Diff)
	}
	if !strings.Contains(res.Diff, "replace ") {
		t.Errorf("diff %q does not say the file is replaced", res.Diff)
	}
}

func TestFlushInlineFailureLeavesOldFile(t *testing.T) {
	dir := t.TempDir()
	reg := testRegistry(t)
	folder := filepath.Join(dir, reg.Address)
	os.MkdirAll(folder, 0o755)
	old := []byte("old content\n")
	os.WriteFile(filepath.Join(folder, "ca.crt"), old, 0o644)

	task := buildTask(t, PlaceDockerCertName, "{registry: lab}", reg)
	ctx := context.Background()
	conn := &localConn{limitFileSize: true}
	tg := NewTarget("node1", mapVars{"docker_certs_dir": dir}, conn, true)
	if err := tg.Gather(ctx, task.Probes(tg)); err != nil {
		t.Fatal(err)
	}
	if _, err := task.CheckApply(ctx, tg, true); err != nil {
		t.Fatal(err)
	}
	err := tg.Flush(ctx)
	if err == nil || !strings.Contains(err.Error(), "cannot write "+filepath.Join(folder, "ca.crt")) {
		t.Fatalf("Flush error = %v; want one naming ca.crt", err)
	}
	if got, _ := os.ReadFile(filepath.Join(folder, "ca.crt")); string(got) != string(old) {
		t.Errorf("ca.crt = %q after a failed write; want the old content", got)
	}
	if left, _ := filepath.Glob(filepath.Join(folder, ".*"+tempMarker+"*")); len(left) != 0 {
		t.Errorf("temporary files left after a failed write: %v", left)
	}
	if n := len(conn.uploads); n != 0 {
		t.Errorf("%d scp uploads; want none for content this small", n)
	}
}

// TestFlushFailureLeavesOldFile covers content too large to send inline,
// which goes over scp.
func TestFlushFailureLeavesOldFile(t *testing.T) {
	dir := t.TempDir()
	reg := testRegistry(t)
	folder := filepath.Join(dir, reg.Address)
	os.MkdirAll(folder, 0o755)
	old := []byte("old content\n")
	os.WriteFile(filepath.Join(folder, "ca.crt"), old, 0o644)

	task := buildTask(t, PlaceDockerCertName, "{registry: lab}", reg)
	ctx := context.Background()
	conn := &localConn{failUpload: true}
	tg := NewTarget("node1", mapVars{"docker_certs_dir": dir}, conn, true)
	if err := tg.Gather(ctx, task.Probes(tg)); err != nil {
		t.Fatal(err)
	}
	tg.WriteFile(filepath.Join(folder, "ca.crt"), bytes.Repeat([]byte("x"), maxInline+1), 0o644)
	err := tg.Flush(ctx)
	if err == nil || !strings.Contains(err.Error(), "ca.crt") {
		t.Fatalf("Flush error = %v; want one naming ca.crt", err)
	}
	got, _ := os.ReadFile(filepath.Join(folder, "ca.crt"))
	if string(got) != string(old) {
		t.Errorf("ca.crt = %q after a failed write; want the old content", got)
	}
}

func TestGatherFindsStaleTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	reg := testRegistry(t)
	folder := filepath.Join(dir, reg.Address)
	os.MkdirAll(folder, 0o755)
	stale := filepath.Join(folder, ".ca.crt"+tempMarker+"abc123")
	os.WriteFile(stale, []byte("half"), 0o644)

	task := buildTask(t, PlaceDockerCertName, "{registry: lab}", reg)
	conn := &localConn{}
	_, tg := convergeTask(t, task, mapVars{"docker_certs_dir": dir}, conn, true)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file %s still exists (stat error %v)", stale, err)
	}
	if len(tg.stale) != 0 {
		t.Errorf("Target still lists stale files %v", tg.stale)
	}

	// In check mode the stale file is found but left alone.
	os.WriteFile(stale, []byte("half"), 0o644)
	convergeTask(t, task, mapVars{"docker_certs_dir": dir}, conn, false)
	if _, err := os.Stat(stale); err != nil {
		t.Errorf("check mode removed %s: %v", stale, err)
	}
}

func TestGatherRecords(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "with space's.txt")
	os.WriteFile(file, []byte("hello\n"), 0o640)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	tg := NewTarget("node1", nil, &localConn{}, false)
	err := tg.Gather(context.Background(), []Probe{
		{Path: file, Content: true},
		{Path: empty, Content: true},
		{Path: dir},
		{Path: filepath.Join(dir, "missing")},
		// A command that reads standard input must not swallow the
		// rest of the script.
		// The padding makes the script longer than the shell's read
		// buffer, so cat would find the rest of the script on stdin.
		{Key: "stdin", Script: "cat"},
		{Key: "padding", Script: "true\n" + strings.Repeat("# padding\n", 8000)},
		{Key: "echo", Script: "printf 'a\\tb\\n'"},
	})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := tg.File(file)
	if !st.Exists || st.IsDir || st.Mode.Perm() != 0o640 || string(st.Content) != "hello\n" || st.Size != 6 {
		t.Errorf("file state = %+v; want an existing 0640 file holding hello", st)
	}
	if st.SHA256 != sha256Hex([]byte("hello\n")) {
		t.Errorf("SHA256 = %s; want %s", st.SHA256, sha256Hex([]byte("hello\n")))
	}
	st, _ = tg.File(empty)
	if !st.Exists || !st.ContentRead || len(st.Content) != 0 {
		t.Errorf("empty file state = %+v; want an existing, read, empty file", st)
	}
	st, _ = tg.File(dir)
	if !st.IsDir {
		t.Errorf("folder state = %+v; want IsDir", st)
	}
	st, _ = tg.File(filepath.Join(dir, "missing"))
	if st.Exists {
		t.Errorf("missing file state = %+v; want not existing", st)
	}
	if got, _ := tg.Fact("echo"); got != "a\tb\n" {
		t.Errorf("fact = %q; want %q", got, "a\tb\n")
	}
	if got, _ := tg.Fact("stdin"); got != "" {
		t.Errorf("fact of cat = %q; want empty, because commands read /dev/null", got)
	}
	if _, err := tg.File("/not/probed"); err == nil {
		t.Errorf("File of a path that was not probed: no error")
	}
}

func TestUpdateCAOnlyAfterChange(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "updates")
	vars := mapVars{
		"ca_trust_dir":      filepath.Join(dir, "anchors"),
		"ca_update_command": "echo ran >> " + shellQuote(marker),
	}
	reg := testRegistry(t)
	place := buildTask(t, PlaceSystemCertName, "{registry: lab}", reg)
	update := buildTask(t, UpdateCAName, "")
	ctx := context.Background()

	run := func(apply bool) (Result, Result) {
		tg := NewTarget("node1", vars, &localConn{}, apply)
		if err := tg.Gather(ctx, append(place.Probes(tg), update.Probes(tg)...)); err != nil {
			t.Fatal(err)
		}
		r1, err := place.CheckApply(ctx, tg, apply)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := update.CheckApply(ctx, tg, apply)
		if err != nil {
			t.Fatal(err)
		}
		if err := tg.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if r2.Changed && len(tg.RestartReasons()) == 0 {
			t.Errorf("update_ca changed the store but asked for no dockerd restart")
		}
		return r1, r2
	}
	_, up := run(false)
	if !up.Changed {
		t.Errorf("check mode: update_ca Changed = false; want true")
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Errorf("check mode ran the update command")
	}
	pl, up := run(true)
	if !pl.Changed || !up.Changed {
		t.Errorf("first apply: place changed %v, update changed %v; want both true", pl.Changed, up.Changed)
	}
	if _, err := os.Stat(filepath.Join(dir, "anchors", "regtrust-lab.crt")); err != nil {
		t.Errorf("anchor not written: %v", err)
	}
	pl, up = run(true)
	if pl.Changed || up.Changed {
		t.Errorf("second apply: place changed %v, update changed %v; want both false", pl.Changed, up.Changed)
	}
	got, _ := os.ReadFile(marker)
	if strings.Count(string(got), "ran") != 1 {
		t.Errorf("update command ran %d times; want 1", strings.Count(string(got), "ran"))
	}
}

func TestDetectTrustStore(t *testing.T) {
	cases := []struct {
		name      string
		osRelease string
		anchors   string
		update    string
		err       string
	}{
		{"debian", "ID=debian\n", "/usr/local/share/ca-certificates", "update-ca-certificates", ""},
		{"ubuntu-quoted", "ID=\"ubuntu\"\nID_LIKE=debian\n", "/usr/local/share/ca-certificates", "update-ca-certificates", ""},
		{"rocky-like-rhel", "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\n", "/etc/pki/ca-trust/source/anchors", "update-ca-trust extract", ""},
		{"derivative-of-ubuntu", "ID=pop\nID_LIKE=\"ubuntu debian\"\n", "/usr/local/share/ca-certificates", "update-ca-certificates", ""},
		{"opensuse", "ID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"\n", "/etc/pki/trust/anchors", "update-ca-certificates", ""},
		{"arch", "ID=arch\n", "/etc/ca-certificates/trust-source/anchors", "update-ca-trust", ""},
		{"alpine", "ID=alpine\n", "/usr/local/share/ca-certificates", "update-ca-certificates", ""},
		{"unknown", "ID=plan9\n", "", "", `ID="plan9"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := NewTarget("node1", nil, &localConn{}, false)
			tg.files[osReleasePath] = &FileState{Exists: true, ContentRead: true, Content: []byte(c.osRelease)}
			ts, err := detectTrustStore(tg)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error = %v; want one containing %s", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ts.anchors != c.anchors || ts.update != c.update {
				t.Errorf("store = %s, %q; want %s, %q", ts.anchors, ts.update, c.anchors, c.update)
			}
		})
	}
}

func TestRestartDockerNotNeeded(t *testing.T) {
	f := newFakeDocker(t)
	f.startDaemon()
	vars := f.vars()
	vars["docker_restart_command"] = f.restartCommand()
	task := buildTask(t, RestartDockerName, "")
	res, _ := convergeTask(t, task, vars, &localConn{}, true)
	if res.Changed {
		t.Errorf("Changed = true with no change needing dockerd; message %q", res.Message)
	}
	if f.restarts() != 0 {
		t.Errorf("restarts = %d; want 0", f.restarts())
	}
}

func TestValidateAddress(t *testing.T) {
	cases := []struct {
		address string
		err     string
	}{
		{"gitlab.ltc:4567", ""},
		{"registry.example.com", ""},
		{"10.0.0.2:5000", ""},
		{"[fd00::1]:5000", ""},
		{"[fd00::1]", ""},
		{"localhost:5000", ""},
		{"", "empty"},
		{"https://gitlab.ltc:4567", `remove the scheme "https://"`},
		{"gitlab.ltc:4567/group", "remove the path"},
		{"gitlab ltc", "space"},
		{"gitlab.ltc:0", "port"},
		{"gitlab.ltc:65536", "port"},
		{"gitlab.ltc:", "port"},
		{"gitlab.ltc:abc", "port"},
		{"..", "not a valid host name"},
		{"a..b", "not a valid host name"},
		{"fd00::1:5000", "brackets"},
		{"[fd00::1", "closing bracket"},
		{"[10.0.0.1]:5000", "not an IPv6 address"},
		{"gitlab.ltc\n", "control"},
		{"-bad.example", "not a valid host name"},
	}
	for _, c := range cases {
		err := ValidateAddress(c.address)
		if c.err == "" {
			if err != nil {
				t.Errorf("ValidateAddress(%q) = %v; want nil", c.address, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("ValidateAddress(%q) = %v; want an error containing %q", c.address, err, c.err)
		}
	}
}

func TestTaskArgumentErrors(t *testing.T) {
	reg := testRegistry(t)
	env := &Env{Registries: map[string]*Registry{"lab": reg}}
	cases := []struct {
		typ, args, err string
	}{
		{PlaceDockerCertName, "{registry: lab, regsitry: x}", `unknown argument "regsitry"; allowed: registry`},
		{PlaceDockerCertName, "{registry: other}", `registry "other" is not defined`},
		{PlaceDockerCertName, "{}", "missing argument registry"},
		{PlaceDockerCertName, "[lab]", "arguments must be a mapping"},
		{DaemonJSONName, "{registries: []}", "missing argument registries"},
		{DaemonJSONName, "{registries: [\"a b\"]}", "a b"},
		{DaemonJSONName, "{registries: [x:5000], state: gone}", `invalid state "gone"`},
		{FetchCAName, "{registry: lab, ca_file: a.pem, ca_pem: x}", "either ca_file or ca_pem"},
		{UpdateCAName, "{force: true}", `unknown argument "force"`},
	}
	for _, c := range cases {
		var node yaml.Node
		if err := yaml.Unmarshal([]byte(c.args), &node); err != nil {
			t.Fatal(err)
		}
		_, err := New(c.typ, node.Content[0], env)
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("New(%s, %s) error = %v; want one containing %q", c.typ, c.args, err, c.err)
		}
	}
}

func TestDaemonJSONInsecureMerges(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "daemon.json")
	orig := "{\n  \"storage-driver\": \"vfs\",\n  \"debug\": true\n}\n"
	os.WriteFile(file, []byte(orig), 0o600)
	vars := newFakeDocker(t).vars()
	vars["docker_daemon_json"] = file
	task := buildTask(t, DaemonJSONName, `{registries: ["http://legacy.example:5000 "]}`)

	res, tg := convergeTask(t, task, vars, &localConn{}, false)
	if !res.Changed {
		t.Fatalf("check mode: Changed = false; want true")
	}
	if got, _ := os.ReadFile(file); string(got) != orig {
		t.Errorf("check mode changed daemon.json to %q", got)
	}
	if !strings.Contains(res.Diff, `+  "insecure-registries": [`) && !strings.Contains(res.Diff, `+  "insecure-registries"`) {
		t.Errorf("diff %q does not show the added key", res.Diff)
	}
	if len(tg.ReloadReasons()) != 1 || len(tg.RestartReasons()) != 0 {
		t.Errorf("reload reasons %v, restart reasons %v; want one reload and no restart", tg.ReloadReasons(), tg.RestartReasons())
	}

	convergeTask(t, task, vars, &localConn{}, true)
	got, _ := os.ReadFile(file)
	for _, want := range []string{`"storage-driver": "vfs"`, `"debug": true`, `"legacy.example:5000"`} {
		if !strings.Contains(string(got), want) {
			t.Errorf("daemon.json = %s; want it to contain %s", got, want)
		}
	}
	if strings.Index(string(got), "storage-driver") > strings.Index(string(got), "debug") {
		t.Errorf("daemon.json = %s; key order changed", got)
	}
	if info, _ := os.Stat(file); info.Mode().Perm() != 0o600 {
		t.Errorf("daemon.json mode = %04o; want the file's own 0600 kept", info.Mode().Perm())
	}

	res, _ = convergeTask(t, task, vars, &localConn{}, true)
	if res.Changed {
		t.Errorf("second apply: Changed = true; want false")
	}
}

func TestDaemonJSONInvalidFileUntouched(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "daemon.json")
	orig := "{\"debug\": true,,}\n"
	os.WriteFile(file, []byte(orig), 0o644)
	task := buildTask(t, DaemonJSONName, `{registries: ["legacy.example:5000"]}`)
	ctx := context.Background()
	vars := newFakeDocker(t).vars()
	vars["docker_daemon_json"] = file
	tg := NewTarget("node1", vars, &localConn{}, true)
	if err := tg.Gather(ctx, task.Probes(tg)); err != nil {
		t.Fatal(err)
	}
	_, err := task.CheckApply(ctx, tg, true)
	if err == nil || !strings.Contains(err.Error(), file) {
		t.Fatalf("error = %v; want one naming %s", err, file)
	}
	if err := tg.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(file); string(got) != orig {
		t.Errorf("daemon.json = %q; want it left as %q", got, orig)
	}
}

func TestDockerdDetectedFromPidfile(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "live.pid")
	os.WriteFile(live, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644)
	stale := filepath.Join(dir, "stale.pid")
	os.WriteFile(stale, []byte("999999999\n"), 0o644)
	junk := filepath.Join(dir, "junk.pid")
	os.WriteFile(junk, []byte("1; rm -rf /\n"), 0o644)
	cases := []struct {
		name, pidfile string
		want          int
	}{
		{"running", live, os.Getpid()},
		{"stale", stale, 0},
		{"missing", filepath.Join(dir, "none.pid"), 0},
		{"not-a-number", junk, 0},
	}
	task := buildTask(t, RestartDockerName, "")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tg := NewTarget("node1", mapVars{"docker_pidfile": c.pidfile}, &localConn{}, false)
			if err := tg.Gather(context.Background(), task.Probes(tg)); err != nil {
				t.Fatal(err)
			}
			d, err := readDockerd(tg)
			if err != nil {
				t.Fatal(err)
			}
			if d.pid != c.want {
				t.Errorf("pid = %d; want %d", d.pid, c.want)
			}
		})
	}
}

func TestFlushLargeContentUsesUpload(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "sub", "bundle.crt")
	data := bytes.Repeat([]byte("0123456789abcdef"), maxInline/16+1)
	conn := &localConn{}
	tg := NewTarget("node1", nil, conn, true)
	if err := tg.Gather(context.Background(), []Probe{{Path: file}}); err != nil {
		t.Fatal(err)
	}
	tg.WriteFile(file, data, 0o600)
	if err := tg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(file)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("content after upload: %d bytes, %v; want the %d bytes written", len(got), err, len(data))
	}
	if info, _ := os.Stat(file); info.Mode().Perm() != 0o600 {
		t.Errorf("mode = %04o; want 0600", info.Mode().Perm())
	}
	if len(conn.uploads) != 1 {
		t.Errorf("%d uploads; want 1 over scp for content larger than %d bytes", len(conn.uploads), maxInline)
	}
}

func TestGatherMatchesEachPathExactly(t *testing.T) {
	dir := t.TempDir()
	paths := map[string]os.FileMode{
		filepath.Join(dir, "ca.crt"):     0o640,
		filepath.Join(dir, "ca.crt.bak"): 0o600,
		filepath.Join(dir, "ca.crt|x"):   0o604,
		filepath.Join(dir, "sp ace"):     0o644,
	}
	var probes []Probe
	for p, mode := range paths {
		if err := os.WriteFile(p, []byte(p), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		probes = append(probes, Probe{Path: p})
	}
	tg := NewTarget("node1", nil, &localConn{}, false)
	if err := tg.Gather(context.Background(), probes); err != nil {
		t.Fatal(err)
	}
	for p, mode := range paths {
		st, err := tg.File(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode.Perm() != mode || st.Size != int64(len(p)) {
			t.Errorf("%s: mode %04o size %d; want %04o and %d", p, st.Mode.Perm(), st.Size, mode, len(p))
		}
	}
}

func TestFlushInlineSetsEachMode(t *testing.T) {
	dir := t.TempDir()
	modes := map[string]os.FileMode{"a": 0o644, "b": 0o600, "c": 0o755, "d": 0o400, "e": 0o640}
	tg := NewTarget("node1", nil, &localConn{}, true)
	var probes []Probe
	for name := range modes {
		probes = append(probes, Probe{Path: filepath.Join(dir, "sub", name)})
	}
	if err := tg.Gather(context.Background(), probes); err != nil {
		t.Fatal(err)
	}
	for name, mode := range modes {
		tg.WriteFile(filepath.Join(dir, "sub", name), []byte(name), mode)
	}
	if err := tg.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	for name, mode := range modes {
		info, err := os.Stat(filepath.Join(dir, "sub", name))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != mode {
			t.Errorf("%s: mode %04o; want %04o", name, info.Mode().Perm(), mode)
		}
	}
	if info, _ := os.Stat(filepath.Join(dir, "sub")); info.Mode().Perm() != 0o755 {
		t.Errorf("new folder mode %04o; want 0755", info.Mode().Perm())
	}
}

package tasks

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/regtrust/regtrust/internal/secret"
)

// fakeSudo is a stand-in for sudo 1.9 that understands the options
// Target uses. With FAKE_SUDO_MODE=password it wants FAKE_SUDO_PASSWORD
// on standard input and prints sudo's messages when it gets none or a
// wrong one; with any other mode it runs the command without reading a
// password, as with NOPASSWD. It logs the -u user to FAKE_SUDO_LOG.
const fakeSudo = `#!/bin/sh
nonint=false
user=
while [ $# -gt 0 ]; do
	case $1 in
	-n) nonint=true ;;
	-S) ;;
	-p) shift ;;
	-u) shift; user=$1 ;;
	--) shift; break ;;
	esac
	shift
done
echo "$user" >>"$FAKE_SUDO_LOG"
if [ "$FAKE_SUDO_MODE" = password ]; then
	if $nonint; then
		echo "sudo: a password is required" >&2
		exit 1
	fi
	IFS= read -r pw
	if [ "$pw" != "$FAKE_SUDO_PASSWORD" ]; then
		echo "Sorry, try again." >&2
		echo "sudo: 1 incorrect password attempt" >&2
		exit 1
	fi
fi
exec "$@"
`

// installFakeSudo puts fakeSudo first on PATH and returns its log file.
func installFakeSudo(t *testing.T, mode, password string) string {
	t.Helper()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte(fakeSudo), 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "sudo.log")
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	t.Setenv("FAKE_SUDO_MODE", mode)
	t.Setenv("FAKE_SUDO_PASSWORD", password)
	t.Setenv("FAKE_SUDO_LOG", log)
	t.Setenv("TMPDIR", t.TempDir())
	return log
}

func TestBecomeWritesAndRuns(t *testing.T) {
	const password = "sudo-pw-7f3"
	tests := []struct {
		name     string
		mode     string
		password string
	}{
		{name: "nopasswd with sudo -n", mode: "nopasswd"},
		{name: "password with sudo -S", mode: "password", password: password},
		{name: "password given but not needed", mode: "nopasswd", password: password},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := installFakeSudo(t, tt.mode, password)
			dir := t.TempDir()
			target := filepath.Join(dir, "certs.d", "reg:5000", "ca.crt")
			conn := &localConn{}
			tg := NewTarget("node1", nil, conn, true)
			if err := tg.UseBecome(Become{User: "root", Password: secret.New(tt.password)}); err != nil {
				t.Fatalf("UseBecome error = %v; want nil", err)
			}
			ctx := context.Background()
			if err := tg.Gather(ctx, []Probe{{Path: target}}); err != nil {
				t.Fatalf("Gather error = %v; want nil", err)
			}
			tg.WriteFile(target, []byte("new ca\n"), 0o644)
			res, err := tg.Exec(ctx, "cat "+shellQuote(target)+"; read line || echo stdin-empty")
			if err != nil {
				t.Fatalf("Exec error = %v; want nil", err)
			}
			if got := string(res.Stdout); got != "new ca\nstdin-empty\n" {
				t.Errorf("Exec stdout = %q; want the new file and an empty stdin", got)
			}
			info, err := os.Stat(target)
			if err != nil {
				t.Fatalf("stat %s: %v", target, err)
			}
			if info.Mode().Perm() != 0o644 {
				t.Errorf("mode of %s = %v; want 0644", target, info.Mode().Perm())
			}

			logged, err := os.ReadFile(log)
			if err != nil {
				t.Fatal(err)
			}
			// Gather, the one write step and Exec.
			if got := strings.Count(string(logged), "root\n"); got != 3 {
				t.Errorf("sudo ran %d times as root; want 3 (gather, write, exec)", got)
			}
			for _, cmd := range conn.commands {
				if strings.Contains(cmd, password) {
					t.Errorf("command %q contains the password; want it only on stdin", cmd)
				}
			}
			for _, upload := range conn.uploads {
				if !strings.Contains(upload, ".regtrust-stage-") {
					t.Errorf("upload went to %s; want the staging folder", upload)
				}
			}
			staged, _ := filepath.Glob(filepath.Join(os.Getenv("TMPDIR"), ".regtrust-stage-*"))
			if len(staged) != 0 {
				t.Errorf("staging folders left behind: %v", staged)
			}
			temps, _ := filepath.Glob(filepath.Join(filepath.Dir(target), ".*"+tempMarker+"*"))
			if len(temps) != 0 {
				t.Errorf("temporary files left behind: %v", temps)
			}
		})
	}
}

func TestBecomeFailures(t *testing.T) {
	const password = "right-pw-19c"
	tests := []struct {
		name     string
		password string
		want     string
	}{
		{name: "password needed", want: "sudo needs a password"},
		{name: "wrong password", password: "wrong-pw-a2d", want: "sudo rejected the become password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			installFakeSudo(t, "password", password)
			tg := NewTarget("node1", nil, &localConn{}, true)
			if err := tg.UseBecome(Become{User: "root", Password: secret.New(tt.password)}); err != nil {
				t.Fatal(err)
			}
			err := tg.Gather(context.Background(), []Probe{{Path: "/etc/hostname"}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Gather error = %v; want one containing %q", err, tt.want)
			}
			if tt.password != "" && strings.Contains(err.Error(), tt.password) {
				t.Errorf("error = %q; want no password in it", err)
			}
		})
	}
}

func TestUseBecomeRejectsUnsafeUser(t *testing.T) {
	tests := []struct {
		user    string
		wantErr bool
	}{
		{user: "", wantErr: false},
		{user: "root", wantErr: false},
		{user: "svc.docker-1", wantErr: false},
		{user: "root; rm -rf /", wantErr: true},
		{user: "-n", wantErr: true},
		{user: "a'b", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			err := NewTarget("n", nil, &localConn{}, true).UseBecome(Become{User: tt.user})
			if (err != nil) != tt.wantErr {
				t.Errorf("UseBecome(%q) error = %v; want error %v", tt.user, err, tt.wantErr)
			}
		})
	}
}

func TestBecomeCommandLimits(t *testing.T) {
	tg := NewTarget("n", nil, &localConn{}, true)
	if err := tg.UseBecome(Become{User: "root", Password: secret.New("a\nb")}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tg.becomeCommand("true"); err == nil || strings.Contains(err.Error(), "a\nb") {
		t.Errorf("becomeCommand with a multi-line password error = %v; want one without the password", err)
	}
	if err := tg.UseBecome(Become{User: "root", Password: secret.New("pw")}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tg.becomeCommand(strings.Repeat("x", maxSudoScript+1)); err == nil {
		t.Errorf("becomeCommand with a %d-byte script error = nil; want an error", maxSudoScript+1)
	}
}

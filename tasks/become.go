package tasks

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/regtrust/regtrust/internal/secret"
	"github.com/regtrust/regtrust/internal/sshx"
)

// Become makes a Target run its remote commands as another user through
// sudo, for hosts where the SSH user is not root.
type Become struct {
	// User is the user that commands run as, usually root. Empty means
	// commands run as the SSH user.
	User string
	// Password is the SSH user's sudo password. When it is empty, sudo
	// runs with -n and fails instead of asking.
	Password secret.Value
}

// becomeUserPattern accepts the user names that useradd accepts by
// default, so that a name can be placed in a command line unquoted.
var becomeUserPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,31}$`)

// maxSudoScript is the largest script that can run with a sudo password.
// Such a script is passed to sh -c as one argument, and Linux limits one
// argument to 128 KiB (MAX_ARG_STRLEN).
const maxSudoScript = 120 << 10

// UseBecome makes every later remote command of t run as b.User: the
// gather script, the folder and rename steps of Flush, and Exec. Uploads
// still run as the SSH user, so Flush stages files in a private folder of
// that user and copies them into place as b.User.
func (t *Target) UseBecome(b Become) error {
	if b.User == "" {
		t.become = Become{}
		return nil
	}
	if !becomeUserPattern.MatchString(b.User) {
		return fmt.Errorf("invalid become user %q: want a user name of letters, digits, '_', '.' and '-'", b.User)
	}
	t.become = b
	return nil
}

// becomeCommand returns the remote command and its standard input that
// run script with /bin/sh as the become user.
//
// Without a password the script reaches sudo's child on standard input,
// and sudo -n fails instead of prompting. With a password, sudo -S reads
// the password from standard input, but only when it needs one: with
// NOPASSWD or cached credentials it would leave the password for the
// script to read. So an outer sh reads the password line and then the
// script, pipes only the password to sudo, and passes the script as an
// argument. printf is a shell builtin, so the password never appears in
// a process list, and an empty -p prompt keeps sudo from printing one.
func (t *Target) becomeCommand(script string) (cmd, stdin string, err error) {
	user := t.become.User
	if !t.become.Password.IsSet() {
		return "sudo -n -u " + user + " -- /bin/sh -s", script, nil
	}
	if len(script) > maxSudoScript {
		return "", "", fmt.Errorf("run script as %s with a sudo password: the script has %d bytes, more than the %d that fit in one argument",
			user, len(script), maxSudoScript)
	}
	password := t.become.Password.Reveal()
	if strings.ContainsAny(password, "\n\r") {
		return "", "", errors.New("invalid become password: it contains a line break, which sudo -S cannot read")
	}
	cmd = `/bin/sh -c 'IFS= read -r p; s=$(cat); printf "%s\n" "$p" | sudo -S -p "" -u ` + user + ` -- /bin/sh -c "$s"'`
	return cmd, password + "\n" + script, nil
}

// sudoFailures maps messages of sudo 1.9 to what they mean for the user.
// They are matched in stderr only when the command failed.
var sudoFailures = []struct{ message, meaning string }{
	{"a password is required", "sudo needs a password; give it with --become-password-file or --become-password-env, or allow the SSH user NOPASSWD in sudoers"},
	{"incorrect password attempt", "sudo rejected the become password; check --become-password-file, --become-password-env or ansible_become_password"},
	{"Sorry, try again", "sudo rejected the become password; check --become-password-file, --become-password-env or ansible_become_password"},
	{"is not in the sudoers file", "the SSH user may not use sudo; add it to sudoers on the host"},
	{"is not allowed to execute", "sudoers does not allow the SSH user to run /bin/sh as the become user; allow it on the host"},
	{"sudo: not found", "sudo is not installed on the host; install it"},
	{"sudo: command not found", "sudo is not installed on the host; install it"},
	{"unknown user", "the become user does not exist on the host; fix ansible_become_user or become_user"},
}

// checkBecome turns a failure of sudo itself, as opposed to one of the
// script, into an error that says what to fix.
func (t *Target) checkBecome(res sshx.Result) error {
	if t.become.User == "" || res.ExitStatus == 0 {
		return nil
	}
	stderr := string(res.Stderr)
	for _, f := range sudoFailures {
		if strings.Contains(stderr, f.message) {
			return fmt.Errorf("become %s with sudo: %s: %w", t.become.User, f.meaning, res.Err())
		}
	}
	return nil
}

// stageScript creates a private staging folder for uploads as the SSH
// user and prints its path. It first removes this user's staging
// folders that are more than a day old, which only an interrupted run
// leaves behind.
const stageScript = `umask 077
find "${TMPDIR:-/tmp}" -maxdepth 1 -name '.regtrust-stage-*' -user "$(id -u)" -mtime +0 -exec rm -rf {} + 2>/dev/null
mktemp -d "${TMPDIR:-/tmp}/.regtrust-stage-XXXXXXXXXX"
`

// makeStagingDir runs stageScript as the SSH user, without sudo.
func (t *Target) makeStagingDir(ctx context.Context) (string, error) {
	res, err := t.conn.Run(ctx, "/bin/sh -s", strings.NewReader(stageScript))
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		return "", fmt.Errorf("create staging folder: %w", err)
	}
	dir := strings.TrimSpace(string(res.Stdout))
	if !strings.HasPrefix(dir, "/") || strings.ContainsAny(dir, "\n'") {
		return "", fmt.Errorf("create staging folder: mktemp printed %q; want an absolute path", dir)
	}
	return dir, nil
}

// removeStagingDir removes the staging folder as the SSH user, who owns
// it and its files, even when the run's context is cancelled.
func (t *Target) removeStagingDir(ctx context.Context, dir string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, _ = t.conn.Run(ctx, "rm -rf "+shellQuote(dir), nil)
}

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/term"

	"github.com/regtrust/regtrust/internal/secret"
	"github.com/regtrust/regtrust/internal/sshx"
)

// passphraseEnv names the environment variable that holds the
// passphrase of encrypted identity files.
const passphraseEnv = "REGTRUST_KEY_PASSPHRASE"

// readSecret returns the secret named by one of a pair of flags: the
// environment variable envVar, or the first line of file. It returns an
// empty Value when neither is given. flagName is the flags' common stem
// for messages, such as "--password".
func readSecret(flagName, envVar, file string, warn io.Writer) (secret.Value, error) {
	switch {
	case envVar != "" && file != "":
		return secret.Value{}, fmt.Errorf("%s-env and %s-file are both given; use one", flagName, flagName)
	case envVar != "":
		v, ok := os.LookupEnv(envVar)
		if !ok || v == "" {
			return secret.Value{}, fmt.Errorf("%s-env %s: the variable is not set or empty; export it or use %s-file", flagName, envVar, flagName)
		}
		return secret.New(v), nil
	case file != "":
		info, err := os.Stat(file)
		if err != nil {
			return secret.Value{}, fmt.Errorf("%s-file: %w", flagName, err)
		}
		if info.Mode().Perm()&0o077 != 0 {
			fmt.Fprintf(warn, "warning: %s-file %s can be read by other users (mode %04o); chmod 600 it\n", flagName, file, info.Mode().Perm())
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return secret.Value{}, fmt.Errorf("%s-file: %w", flagName, err)
		}
		line, _, _ := strings.Cut(string(data), "\n")
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			return secret.Value{}, fmt.Errorf("%s-file %s: the first line is empty; write the password on it", flagName, file)
		}
		return secret.New(line), nil
	}
	return secret.Value{}, nil
}

// promptFunc shows prompt and reads one line without echo.
type promptFunc func(prompt string) (secret.Value, error)

// passphraseSource returns the PassphraseFunc of a run: the value of
// REGTRUST_KEY_PASSPHRASE when it is set, else a prompt when prompt is
// not nil, else an error that names both ways. Prompts are shown one at
// a time, because many hosts may need keys at once.
func passphraseSource(getenv func(string) string, prompt promptFunc) sshx.PassphraseFunc {
	var mu sync.Mutex
	return func(file string, attempt int) (secret.Value, error) {
		if v := getenv(passphraseEnv); v != "" {
			if attempt > 1 {
				return secret.Value{}, fmt.Errorf("%s does not decrypt the key; set the right passphrase", passphraseEnv)
			}
			return secret.New(v), nil
		}
		if prompt == nil {
			return secret.Value{}, fmt.Errorf("the key is encrypted and standard input is not a terminal; set %s, or load the key into ssh-agent with ssh-add %s", passphraseEnv, file)
		}
		mu.Lock()
		defer mu.Unlock()
		text := fmt.Sprintf("Enter passphrase for key %s: ", file)
		if attempt > 1 {
			text = "Wrong passphrase. " + text
		}
		return prompt(text)
	}
}

// terminalPrompt returns a promptFunc that reads from standard input
// with echo off, or nil when standard input is not a terminal.
func terminalPrompt(stderr io.Writer) promptFunc {
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return nil
	}
	return func(prompt string) (secret.Value, error) {
		fmt.Fprint(stderr, prompt)
		line, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return secret.Value{}, fmt.Errorf("read passphrase from the terminal: %w", err)
		}
		if len(line) == 0 {
			return secret.Value{}, errors.New("empty passphrase given")
		}
		return secret.New(string(line)), nil
	}
}

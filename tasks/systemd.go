package tasks

import (
	"strings"
)

// unitCommand is one ExecStart= command line of a unit, with the file
// that sets it.
type unitCommand struct {
	file    string
	command string
}

// unitSettings are the parts of a systemd service that pass flags to its
// program.
type unitSettings struct {
	// execStart lists the ExecStart commands in effect: an empty
	// ExecStart= in a drop-in clears the ones before it.
	execStart []unitCommand
	envFiles  []string
	env       map[string]string
}

// parseUnit reads the output of `systemctl cat UNIT`, which prints the
// unit file and then each drop-in, each after a "# /path" line.
func parseUnit(text string) unitSettings {
	u := unitSettings{env: map[string]string{}}
	file, section := "", ""
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		// A trailing backslash continues the line.
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			i++
			line = strings.TrimSpace(strings.TrimSuffix(line, `\`)) + " " + strings.TrimSpace(lines[i])
		}
		switch {
		case strings.HasPrefix(line, "# /"):
			file, section = strings.TrimPrefix(line, "# "), ""
			continue
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[':
			section = strings.Trim(line, "[]")
			continue
		}
		if section != "Service" {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch key {
		case "ExecStart":
			if value == "" {
				u.execStart = nil
				continue
			}
			u.execStart = append(u.execStart, unitCommand{file: file, command: value})
		case "EnvironmentFile":
			if value == "" {
				u.envFiles = nil
				continue
			}
			u.envFiles = append(u.envFiles, strings.TrimPrefix(value, "-"))
		case "Environment":
			for _, assignment := range splitWords(value) {
				if k, v, ok := strings.Cut(assignment, "="); ok {
					u.env[k] = v
				}
			}
		}
	}
	return u
}

// expandCommand splits an ExecStart command into words and expands
// environment variables as systemd does: $NAME as a word of its own
// becomes the value's white-space separated words, ${NAME} becomes the
// value inside the word it is in. The special prefixes of the program
// (@, -, :, +, !) are dropped. It also returns the names of the
// variables it expanded.
func expandCommand(command string, env map[string]string) (words, used []string) {
	for i, w := range splitWords(command) {
		if i == 0 {
			w = strings.TrimLeft(w, "@-:+!")
		}
		if name, ok := strings.CutPrefix(w, "$"); ok && !strings.HasPrefix(name, "{") && isVarName(name) {
			used = append(used, name)
			words = append(words, strings.Fields(env[name])...)
			continue
		}
		var b strings.Builder
		for {
			start := strings.Index(w, "${")
			end := strings.Index(w[max(start, 0):], "}")
			if start < 0 || end < 0 {
				break
			}
			end += start
			name := w[start+2 : end]
			used = append(used, name)
			b.WriteString(w[:start] + env[name])
			w = w[end+1:]
		}
		b.WriteString(w)
		words = append(words, b.String())
	}
	return words, used
}

func isVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// splitWords splits a line into words at white space, honouring single
// and double quotes and backslash escapes, as systemd and POSIX shells do
// for simple command lines.
func splitWords(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	escaped := false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// parseEnvFile reads the NAME=value lines of an environment file as
// systemd's EnvironmentFile= and the init scripts' shell both accept
// them: an optional "export ", and a value in single or double quotes or
// bare.
// NOTE: a value that uses shell features (command substitution, other
// variables) is taken literally; init scripts that source the file would
// expand it.
func parseEnvFile(content string) map[string]string {
	vars := map[string]string{}
	for _, line := range strings.Split(content, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		if !ok || !isVarName(strings.TrimSpace(k)) {
			continue
		}
		if words := splitWords(v); len(words) > 0 {
			v = strings.Join(words, " ")
		} else {
			v = ""
		}
		vars[strings.TrimSpace(k)] = v
	}
	return vars
}

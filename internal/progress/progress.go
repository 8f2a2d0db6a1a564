// Package progress shows how many hosts of a run are done. On a terminal
// it rewrites one line in place. Elsewhere, such as in a CI log or a
// file, it prints a plain line at each tenth of a long run.
package progress

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// minPlainHosts is the smallest run that gets plain progress lines. A
// shorter run finishes with its report before progress would help.
const minPlainHosts = 10

// Line is the progress display. Its methods are not safe for concurrent
// use; the caller serializes them with its other output.
type Line struct {
	w        io.Writer
	terminal bool
	shown    bool // a terminal line is on screen
	tenth    int  // the last tenth printed as a plain line
}

// New returns a Line that writes to w, rewriting one line in place when
// terminal is true.
func New(w io.Writer, terminal bool) *Line {
	return &Line{w: w, terminal: terminal}
}

// IsTerminal reports whether f is a terminal.
func IsTerminal(f *os.File) bool {
	return term.IsTerminal(int(f.Fd()))
}

// Update shows that done of total hosts are finished, with a short
// summary such as "2 changed, 1 failed".
func (l *Line) Update(done, total int, summary string) {
	if total <= 0 {
		return
	}
	text := fmt.Sprintf("%d/%d hosts done", done, total)
	if summary != "" {
		text += " (" + summary + ")"
	}
	if l.terminal {
		// \r returns to the start of the line and ESC [K clears it, so
		// a shorter text leaves nothing of the longer one before it.
		fmt.Fprintf(l.w, "\r\x1b[Kregtrust: %s", text)
		l.shown = true
		return
	}
	if total < minPlainHosts {
		return
	}
	tenth := done * 10 / total
	if tenth > l.tenth {
		l.tenth = tenth
		fmt.Fprintf(l.w, "progress: %s\n", text)
	}
}

// Clear removes the terminal line, so that other output starts at the
// beginning of an empty line. The next Update draws it again.
func (l *Line) Clear() {
	if l.terminal && l.shown {
		io.WriteString(l.w, "\r\x1b[K")
		l.shown = false
	}
}

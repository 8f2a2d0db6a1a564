package daemonjson

import (
	"fmt"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"
)

// Diff returns a unified diff from before to after with three lines of
// context, labelled "--- a/NAME" and "+++ b/NAME", or "" when they are equal.
// A leading "/" of name is dropped, as git does for paths. A final line
// without a newline is marked as in diff(1).
func Diff(name string, before, after []byte) string {
	name = strings.TrimPrefix(name, "/")
	oldText, newText := string(before), string(after)
	edits := udiff.Lines(oldText, newText)
	out, err := udiff.ToUnified("a/"+name, "b/"+name, oldText, edits, udiff.DefaultContextLines)
	if err != nil {
		// ToUnified fails only for edits that do not fit the text, and
		// these edits were computed from the same text.
		return fmt.Sprintf("--- a/%s\n+++ b/%s\n(diff failed: %v)\n", name, name, err)
	}
	return out
}

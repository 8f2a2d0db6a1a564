package tasks

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// StateSHA256 returns a hash of the state that Gather read: for every
// probed path whether it exists, whether it is a folder, its mode,
// owner, group, size and content hash, and the output of every fact
// script. Two gathers of a host give the same hash exactly when nothing
// a task reads has changed in between, so a plan made from one can be
// applied to the other. Temporary files that an earlier run left behind
// are not part of the state. Call it right after Gather, before any task
// has changed the Target's view.
func (t *Target) StateSHA256() string {
	var b strings.Builder
	for _, p := range slices.Sorted(maps.Keys(t.files)) {
		st := t.files[p]
		switch {
		case !st.Exists:
			fmt.Fprintf(&b, "missing %q\n", p)
		case st.IsDir:
			fmt.Fprintf(&b, "folder %q %04o %d %d\n", p, st.Mode.Perm(), st.UID, st.GID)
		default:
			fmt.Fprintf(&b, "file %q %04o %d %d %d %s\n", p, st.Mode.Perm(), st.UID, st.GID, st.Size, st.SHA256)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(t.facts)) {
		fmt.Fprintf(&b, "fact %q %s\n", k, base64.StdEncoding.EncodeToString([]byte(t.facts[k])))
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// Fork returns a Target with the same gathered state, the same loaded
// journal, the same become user and nothing queued, which changes the
// host only when apply is true. A check on a fork shows what the same
// tasks would do on t, without gathering the state again. Call it before
// any task ran on t, because what tasks note for later ones, such as a
// needed restart, goes into the same fields as the journal's work.
func (t *Target) Fork(apply bool) *Target {
	f := NewTarget(t.Name, t.Vars, t.conn, apply)
	f.become = t.become
	// Entries are replaced, never changed in place, so sharing the
	// FileState values is safe.
	maps.Copy(f.files, t.files)
	maps.Copy(f.facts, t.facts)
	f.stale = slices.Clone(t.stale)
	f.journal = journal{
		path:     t.journal.path,
		handlers: slices.Clone(t.journal.handlers),
		loaded:   slices.Clone(t.journal.loaded),
		onDisk:   t.journal.onDisk,
	}
	f.daemon = t.daemon.clone()
	f.anchorsChanged = t.anchorsChanged
	return f
}

package tasks

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// Probe is one piece of host state that a task reads. Either Path is set,
// and the file or folder's existence, mode, owner, size and SHA-256 are
// read (and its content when Content is set), or Key and Script are set,
// and the standard output of the shell snippet Script is stored as the
// fact Key.
//
// With Base set, Path is relative to a folder that only the host knows:
// Base names the fact whose Script prints that folder, and that fact's
// probe must be in the same Gather. The state is then stored under the
// folder, a "/" and Path, so a task reads it with [Target.File] after
// joining the fact's value and Path.
type Probe struct {
	Path    string
	Content bool
	Base    string

	Key    string
	Script string
}

// FileState is the state of one remote path.
type FileState struct {
	Exists bool
	IsDir  bool
	Mode   fs.FileMode
	UID    int
	GID    int
	Size   int64
	SHA256 string // hex, of the content; empty for folders
	// Content is the file's content when it was probed with Content set.
	Content     []byte
	ContentRead bool
}

// maxContent caps how much of one file Gather reads. The files whose
// content tasks read (daemon.json, os-release, certificates) are far
// smaller; a larger one is reported as too large instead of being read.
const maxContent = 4 << 20

// Gather reads the state of every probe in one remote command and stores
// it in the Target. Temporary files that an interrupted run left beside
// probed files are recorded so that the next Flush removes them.
func (t *Target) Gather(ctx context.Context, probes []Probe) error {
	script, index := gatherScript(probes)
	res, err := t.runScript(ctx, script)
	if err != nil {
		return fmt.Errorf("gather state: %w", err)
	}
	if err := res.Err(); err != nil {
		return fmt.Errorf("gather state: %w", err)
	}
	return t.parseGather(res.Stdout, index)
}

// gatherScript builds the POSIX shell script that prints one record per
// probe. Records are tab-separated lines that name probes by index, so
// that no path has to be escaped in the output. A file's content follows
// its record line as base64 lines ending with a line ".", which base64
// never prints; a fact's output, which is text, follows as its own lines,
// each behind one space, also ending with ".".
//
// The script starts as few programs as it can, because on a fleet their
// start-up cost is most of the gather's CPU time: one stat for all paths,
// and base64 for each content. stat prints each path on a line of
// its own and its mode, owner, group and size on the next; paths never
// contain a newline, and as absolute paths they never equal such a line.
// A file whose content is read is hashed on the controller; only other
// files go through sha256sum.
func gatherScript(probes []Probe) (string, []Probe) {
	var b strings.Builder
	b.WriteString(`stats=
stat_all() {
  stats=$(stat -L -c '%n
%a %u %g %s' -- "$@" 2>/dev/null)
  return 0
}
lookup() {
  st=
  next=
  o=$IFS
  IFS='
'
  set -f
  for l in $stats; do
    if [ -n "$next" ]; then st=$l; break; fi
    if [ "$l" = "$1" ]; then next=1; fi
  done
  set +f
  IFS=$o
  if [ -z "$st" ]; then st=$(stat -L -c '%a %u %g %s' "$1"); fi
}
p() {
  if [ -d "$2" ]; then
    lookup "$2"
    printf 'D\t%s\t%s\n' "$1" "$st"
  elif [ -e "$2" ]; then
    lookup "$2"
    if [ "$3" = c ] && [ "${st##* }" -le ` + strconv.Itoa(maxContent) + ` ]; then
      printf 'F\t%s\t%s\t-\nC\t%s\n' "$1" "$st" "$1"
      base64 < "$2"
      echo .
    else
      h=$(sha256sum < "$2")
      printf 'F\t%s\t%s\t%s\n' "$1" "$st" "${h%% *}"
    fi
  else
    printf 'M\t%s\n' "$1"
  fi
}
s() {
  printf 'S\t%s\n' "$1"
  eval "$2" 2>/dev/null | while IFS= read -r l || [ -n "$l" ]; do printf ' %s\n' "$l"; done
  echo .
}
t() {
  for f in "$1"/.*` + tempMarker + `*; do
    [ -e "$f" ] || continue
    printf 'T\n'
    printf %s "$f" | base64
    echo .
  done
  return 0
}
`)
	var index []Probe
	var pathLines, statArgs []string
	dirs := map[string]bool{}
	seen := map[string]bool{}
	// Facts that other probes use as their folder are evaluated first,
	// into shell variables b0, b1, ... that the path probes refer to.
	baseVars := map[string]string{}
	for _, pr := range probes {
		if pr.Base == "" || baseVars[pr.Base] != "" {
			continue
		}
		for _, fact := range probes {
			if fact.Key != pr.Base || fact.Script == "" {
				continue
			}
			v := fmt.Sprintf("b%d", len(baseVars))
			baseVars[pr.Base] = v
			seen["\x00"+fact.Key] = true
			i := len(index)
			index = append(index, fact)
			fmt.Fprintf(&b, "%s=$(eval %s 2>/dev/null)\n", v, shellQuote(fact.Script))
			fmt.Fprintf(&b, "printf 'S\\t%%s\\n %%s\\n.\\n' %d \"$%s\"\n", i, v)
			break
		}
	}
	for _, pr := range probes {
		key := pr.Base + "\x00" + pr.Path + "\x00" + pr.Key
		if pr.Path == "" {
			key = "\x00" + pr.Key
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		i := len(index)
		index = append(index, pr)
		switch {
		case pr.Script != "":
			fmt.Fprintf(&b, "s %d %s\n", i, shellQuote(pr.Script))
		default:
			flag := "-"
			if pr.Content {
				flag = "c"
			}
			target := shellQuote(pr.Path)
			if pr.Base != "" {
				// An unknown Base leaves an empty variable name, which
				// parseGather reports as a missing fact.
				target = fmt.Sprintf(`"$%s"/%s`, baseVars[pr.Base], shellQuote(pr.Path))
				dirs[fmt.Sprintf(`"$%s"/%s`, baseVars[pr.Base], shellQuote(path.Dir(pr.Path)))] = true
			} else {
				dirs[shellQuote(path.Dir(pr.Path))] = true
			}
			pathLines = append(pathLines, fmt.Sprintf("p %d %s %s", i, target, flag))
			statArgs = append(statArgs, target)
		}
	}
	if len(statArgs) > 0 {
		fmt.Fprintf(&b, "stat_all %s\n", strings.Join(statArgs, " "))
	}
	for _, line := range pathLines {
		b.WriteString(line + "\n")
	}
	for _, d := range sortedKeys(dirs) {
		fmt.Fprintf(&b, "t %s\n", d)
	}
	return b.String(), index
}

// probePath returns where the state of a path probe is stored: Path, or
// for a probe with Base, the gathered folder joined with Path.
func (t *Target) probePath(pr Probe) (string, error) {
	if pr.Base == "" {
		return pr.Path, nil
	}
	dir, ok := t.facts[pr.Base]
	if !ok {
		return "", fmt.Errorf("internal error: folder fact %q of %s was not gathered", pr.Base, pr.Path)
	}
	return path.Join(strings.TrimSpace(dir), pr.Path), nil
}

func (t *Target) parseGather(out []byte, index []Probe) error {
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 2*maxContent)
	// block reads the base64 lines that follow a record, up to ".".
	block := func() ([]byte, error) {
		var enc strings.Builder
		for sc.Scan() {
			if sc.Text() == "." {
				return base64.StdEncoding.DecodeString(enc.String())
			}
			enc.WriteString(sc.Text())
		}
		return nil, fmt.Errorf("output ended inside a block")
	}
	// textBlock reads the lines of a fact's output, each behind one
	// space, up to ".". A fact's output is text; it is framed this way
	// rather than base64 encoded so that no program has to start for it.
	textBlock := func() ([]byte, error) {
		var text strings.Builder
		for sc.Scan() {
			line := sc.Text()
			if line == "." {
				return []byte(text.String()), nil
			}
			text.WriteString(strings.TrimPrefix(line, " ") + "\n")
		}
		return nil, fmt.Errorf("output ended inside a block")
	}
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if f[0] == "T" {
			name, err := block()
			if err != nil {
				return fmt.Errorf("gather state: invalid record of type %q: %w", f[0], err)
			}
			t.stale = append(t.stale, string(name))
			continue
		}
		if len(f) < 2 {
			continue
		}
		i, err := strconv.Atoi(f[1])
		if err != nil || i < 0 || i >= len(index) {
			// The record is not quoted: it may carry a secret file's
			// content.
			return fmt.Errorf("gather state: invalid record of type %q", f[0])
		}
		pr := index[i]
		var data []byte
		if f[0] == "S" {
			if data, err = textBlock(); err != nil {
				return fmt.Errorf("gather state of %s%s: %w", pr.Path, pr.Key, err)
			}
		}
		if f[0] == "C" {
			if data, err = block(); err != nil {
				return fmt.Errorf("gather state of %s%s: %w", pr.Path, pr.Key, err)
			}
		}
		if err := t.storeRecord(f, pr, data); err != nil {
			return fmt.Errorf("gather state of %s%s: %w", pr.Path, pr.Key, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("gather state: %w", err)
	}
	for _, pr := range index {
		if pr.Script != "" {
			if _, ok := t.facts[pr.Key]; !ok {
				return fmt.Errorf("gather state: no output for %s", pr.Key)
			}
			continue
		}
		p, err := t.probePath(pr)
		if err != nil {
			return err
		}
		if _, ok := t.files[p]; !ok {
			return fmt.Errorf("gather state: no output for %s", p)
		}
	}
	return nil
}

// storeRecord stores one record; data is the decoded block of a C or S
// record.
func (t *Target) storeRecord(f []string, pr Probe, data []byte) error {
	p := pr.Path
	if f[0] != "S" {
		var err error
		if p, err = t.probePath(pr); err != nil {
			return err
		}
	}
	switch f[0] {
	case "M":
		t.files[p] = &FileState{}
	case "D", "F":
		if len(f) < 3 {
			return fmt.Errorf("short record")
		}
		st := &FileState{Exists: true, IsDir: f[0] == "D"}
		nums := strings.Fields(f[2])
		if len(nums) < 3 {
			return fmt.Errorf("unexpected stat output %q", f[2])
		}
		mode, err := strconv.ParseUint(nums[0], 8, 32)
		if err != nil {
			return fmt.Errorf("unexpected mode %q", nums[0])
		}
		st.Mode = fs.FileMode(mode)
		st.UID, _ = strconv.Atoi(nums[1])
		st.GID, _ = strconv.Atoi(nums[2])
		if len(nums) > 3 {
			st.Size, _ = strconv.ParseInt(nums[3], 10, 64)
		}
		// "-" means the content follows and is hashed here.
		if !st.IsDir && len(f) > 3 && f[3] != "-" {
			st.SHA256 = f[3]
		}
		t.files[p] = st
	case "C":
		st := t.files[p]
		if st == nil {
			return fmt.Errorf("content before state")
		}
		if int64(len(data)) != st.Size {
			return fmt.Errorf("file changed while it was read; run again")
		}
		st.SHA256 = sha256Hex(data)
		st.Content, st.ContentRead = data, true
	case "S":
		t.facts[pr.Key] = string(data)
	default:
		return fmt.Errorf("unknown record type %q", f[0])
	}
	return nil
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

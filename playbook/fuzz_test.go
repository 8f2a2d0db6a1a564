package playbook

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the playbook parser. Parse must
// never panic, and a playbook it accepts must be complete: every play
// has hosts and every step a task and a name.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../examples/*.yml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("- hosts: all\n  tasks:\n    - update_ca:\n      notify: [a, a]\n"))
	f.Add([]byte("- hosts: all\n  registries: {r: {address: \"[fd00::1]:5000\", trust: [insecure]}}\n"))
	f.Add([]byte("- &a {hosts: all, tasks: [*a]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pb, err := Parse("fuzz.yml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yml") {
				t.Errorf("error %q does not name the file", err)
			}
			return
		}
		for _, p := range pb.Plays {
			if strings.TrimSpace(p.Hosts) == "" {
				t.Errorf("accepted a play without hosts")
			}
			for _, s := range append(p.Tasks, p.Handlers...) {
				if s.Task == nil || s.Name == "" {
					t.Errorf("accepted a step without a task or name: %+v", s)
				}
			}
		}
	})
}

func TestParseHostileInput(t *testing.T) {
	deep := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	aliases := "a: &a [x, x, x, x, x, x, x, x, x]\n"
	for i := 'b'; i <= 'k'; i++ {
		prev := string(i - 1)
		aliases += string(i) + ": &" + string(i) + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n"
	}
	cases := []struct {
		name, data string
	}{
		{"deep-nesting", deep},
		{"alias-bomb", aliases},
		{"binary", "\x00\x01\x02\xff"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("pb.yml", []byte(c.data))
			if err == nil {
				t.Fatalf("Parse accepted %s input", c.name)
			}
			if !strings.HasPrefix(err.Error(), "pb.yml") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestLoadRejectsHugeFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "huge.yml")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(maxPlaybookSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	_, err = Load(file)
	if err == nil || !strings.Contains(err.Error(), "more than the") {
		t.Fatalf("Load of a %d-byte file: error %v; want a size error", maxPlaybookSize+1, err)
	}
}

package daemonjson

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzMergeInsecure checks that a successful merge parses as a JSON object,
// keeps every other key with the same value, lists each added entry once
// and is stable when run again. Seeds are the files in testdata/seeds.
func FuzzMergeInsecure(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "seeds", "*.json"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("find seeds in testdata/seeds: got %d files, error %v", len(seeds), err)
	}
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatalf("read seed: %v", err)
		}
		f.Add(data, "registry.lan:5000", "http://New.lan/", "b.lan")
	}
	f.Add([]byte(nil), "[fd00::1]:5000", "10.0.0.0/8", "a.lan")

	f.Fuzz(func(t *testing.T, orig []byte, add1, add2, remove string) {
		add, removeList := []string{add1, add2}, []string{remove}
		out, changed, err := MergeInsecure(orig, add, removeList)
		if err != nil {
			if out != nil || changed {
				t.Fatalf("error %v came with changed=%v output %q; want false and nil", err, changed, out)
			}
			return
		}
		if !changed {
			if !bytes.Equal(out, orig) {
				t.Fatalf("unchanged output differs from input:\ngot  %q\nwant %q", out, orig)
			}
			return
		}

		outMembers := decodeObject(t, "output", out)
		if orig != nil {
			for key, value := range decodeObject(t, "input", orig) {
				if key == insecureKey {
					continue
				}
				if got, ok := outMembers[key]; !ok || compactJSON(t, got) != compactJSON(t, value) {
					t.Errorf("key %q: got %s; want %s", key, got, value)
				}
			}
		}
		var list []string
		if err := json.Unmarshal(outMembers[insecureKey], &list); err != nil {
			t.Fatalf("output %s is not a list of strings: %v", insecureKey, err)
		}
		var origList []string
		if orig != nil {
			_ = json.Unmarshal(decodeObject(t, "input", orig)[insecureKey], &origList)
		}
		for _, a := range add {
			n, _ := NormalizeRegistry(a)
			if got, want := countKey(list, n), max(1, countKey(origList, n)); got != want {
				t.Errorf("entry %q: got %d times in %q; want %d", n, got, list, want)
			}
		}
		if n, _ := NormalizeRegistry(remove); countKey(list, n) != 0 {
			t.Errorf("removed entry %q still in %q", n, list)
		}

		again, changedAgain, err := MergeInsecure(out, add, removeList)
		if err != nil || changedAgain || !bytes.Equal(again, out) {
			t.Errorf("second run: got changed=%v err=%v output %q; want the same output unchanged", changedAgain, err, again)
		}
	})
}

func decodeObject(t *testing.T, label string, data []byte) map[string]json.RawMessage {
	t.Helper()
	var members map[string]json.RawMessage
	if err := json.Unmarshal(bytes.TrimPrefix(data, utf8BOM), &members); err != nil {
		t.Fatalf("%s is not a JSON object: %v\n%q", label, err, data)
	}
	return members
}

func compactJSON(t *testing.T, raw []byte) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("compact %q: %v", raw, err)
	}
	return b.String()
}

func countKey(list []string, key string) int {
	n := 0
	for _, e := range list {
		if comparisonKey(e) == key {
			n++
		}
	}
	return n
}

package daemonjson

import (
	"slices"
	"strings"
	"testing"
)

func TestKeys(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string
		err  string
	}{
		{"top-level", `{"debug": true, "insecure-registries": []}`, []string{"debug", "insecure-registries"}, ""},
		{"nested-object-flattened", `{"proxies": {"http-proxy": "http://p:3128", "no-proxy": "lan"}}`, []string{"http-proxy", "no-proxy"}, ""},
		{"flat-object-kept", `{"log-opts": {"max-size": "10m"}, "runtimes": {"x": {}}}`, []string{"log-opts", "runtimes"}, ""},
		{"empty-object", `{}`, []string{}, ""},
		{"byte-order-mark", "\xEF\xBB\xBF{\"debug\": true}", []string{"debug"}, ""},
		{"invalid", `{"debug": }`, nil, "invalid JSON"},
		{"empty-file", "  \n", nil, "file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Keys([]byte(tt.data))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Keys error = %v; want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Keys = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestChangedKeys(t *testing.T) {
	tests := []struct {
		name          string
		before, after string
		missingBefore bool
		want          []string
	}{
		{"value-changed", `{"debug": false, "a": 1}`, `{"debug": true, "a": 1}`, false, []string{"debug"}},
		{"white-space-only", `{"a": [1, 2]}`, "{\n  \"a\": [1,2]\n}\n", false, nil},
		{"added-and-removed", `{"a": 1, "b": 2}`, `{"b": 2, "c": 3}`, false, []string{"a", "c"}},
		{"new-file", "", `{"insecure-registries": ["x:5000"]}`, true, []string{"insecure-registries"}},
		{"list-entry-added", `{"insecure-registries": ["a"]}`, `{"insecure-registries": ["a", "b"]}`, false, []string{"insecure-registries"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before []byte
			if !tt.missingBefore {
				before = []byte(tt.before)
			}
			got, err := ChangedKeys(before, []byte(tt.after))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ChangedKeys = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestInsecureRegistries(t *testing.T) {
	tests := []struct {
		name        string
		data        []byte
		want        []string
		wantPresent bool
	}{
		{"missing-file", nil, nil, false},
		{"no-key", []byte(`{"debug": true}`), nil, false},
		{"empty-list", []byte(`{"insecure-registries": []}`), []string{}, true},
		{"as-written", []byte(`{"insecure-registries": ["HTTP://A.lan:5000 ", "10.0.0.0/8"]}`), []string{"HTTP://A.lan:5000 ", "10.0.0.0/8"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, present, err := InsecureRegistries(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if present != tt.wantPresent {
				t.Errorf("present = %v; want %v", present, tt.wantPresent)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("entries = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestListedName(t *testing.T) {
	tests := []struct{ entry, want string }{
		{"legacy.lab:5000", "legacy.lab:5000"},
		{" http://legacy.lab:5000", "legacy.lab:5000"},
		{"HTTPS://Legacy.lab", "Legacy.lab"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"fd00:1::5/16", "fd00::/16"},
		{"[fd00::1]:5000", "[fd00::1]:5000"},
	}
	for _, tt := range tests {
		if got := ListedName(tt.entry); got != tt.want {
			t.Errorf("ListedName(%q) = %q; want %q", tt.entry, got, tt.want)
		}
	}
}

func TestEntryDiff(t *testing.T) {
	added, removed := EntryDiff([]string{"a", "b", "c"}, []string{"b", "d", "a"})
	if !slices.Equal(added, []string{"d"}) {
		t.Errorf("added = %q; want [d]", added)
	}
	if !slices.Equal(removed, []string{"c"}) {
		t.Errorf("removed = %q; want [c]", removed)
	}
}

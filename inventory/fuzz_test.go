package inventory

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// FuzzLoadYAML feeds arbitrary bytes through the whole load path: format
// detection, YAML or INI parsing, merging and variable precedence. Seeds
// are in testdata/fuzz/FuzzLoadYAML.
func FuzzLoadYAML(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		l := newLoader()
		err := l.addData("fuzz.yml", data)
		var inv *Inventory
		if err == nil {
			inv, err = l.finish()
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("error with empty text")
			}
			var perr *ParseError
			if errors.As(err, &perr) && perr.File != "fuzz.yml" {
				t.Fatalf("ParseError.File = %q; want fuzz.yml", perr.File)
			}
			return
		}
		checkInventory(t, inv)
	})
}

// checkInventory checks the invariants of any inventory that loaded.
func checkInventory(t *testing.T, inv *Inventory) {
	t.Helper()
	hosts := inv.Hosts()
	seen := make(map[string]bool)
	for _, h := range hosts {
		if h.Name == "" || strings.ContainsAny(h.Name, " \t\n[]") {
			t.Fatalf("invalid host name %q", h.Name)
		}
		if seen[h.Name] {
			t.Fatalf("host %q listed twice", h.Name)
		}
		seen[h.Name] = true
		if got, ok := inv.Host(h.Name); !ok || got != h {
			t.Fatalf("Host(%q) does not return the host from Hosts()", h.Name)
		}
		if !slices.IsSorted(h.Groups) || slices.Contains(h.Groups, groupAll) || len(h.Groups) == 0 {
			t.Fatalf("host %q Groups = %q; want a sorted, non-empty list without all", h.Name, h.Groups)
		}
		if h.Vars == nil {
			t.Fatalf("host %q has nil Vars", h.Name)
		}
		_, _ = h.Connection() // must not panic; errors are fine
	}

	all, err := inv.Select("all")
	if err != nil {
		t.Fatalf("Select(all) error = %v", err)
	}
	if !slices.Equal(names(all), names(hosts)) {
		t.Fatalf("Select(all) = %q; want Hosts() %q", names(all), names(hosts))
	}
	if u := inv.Unmatched("all"); len(u) != 0 {
		t.Fatalf("Unmatched(all) = %q; want none", u)
	}
	// Eight groups are enough to check, and fewer Select calls keep
	// inputs with many hosts fast.
	for _, g := range inv.Groups()[:min(len(inv.Groups()), 8)] {
		if strings.ContainsAny(g, patternSpecial) {
			continue // Load warns that no pattern can name this group
		}
		if _, err := inv.Select(g); err != nil {
			t.Fatalf("Select(%q) error = %v", g, err)
		}
	}
}

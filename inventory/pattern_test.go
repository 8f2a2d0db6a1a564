package inventory

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const (
	web01 = "web01.prod.corp.example"
	web02 = "web02.prod.corp.example"
	web03 = "web03.prod.corp.example"
	stage = "web01.stage.corp.example"
	db01  = "db01.prod.corp.example"
	db02  = "db02.prod.corp.example"
	ciA   = "ci-a.corp.example"
	ciB   = "ci-b.corp.example"
	ciC   = "ci-c.corp.example"
	jump  = "bastion.corp.example"
)

func TestSelect(t *testing.T) {
	inv := mustLoad(t, "testdata/multitier/inventory.yml")
	every := []string{web01, web02, web03, stage, db01, db02, ciA, ciB, ciC, jump}

	tests := []struct {
		name    string
		pattern string
		want    []string
	}{
		{"all", "all", every},
		{"star", "*", every},
		{"group-with-children", "webservers", []string{web01, web02, web03, stage}},
		{"host", jump, []string{jump}},
		{"ungrouped", "ungrouped", []string{jump}},
		{"union-in-inventory-order", "dbservers:prod_web", []string{web01, web02, web03, db01, db02}},
		{"union-with-commas", db02 + "," + stage, []string{stage, db02}},
		{"union-with-spaces", "builders dbservers", []string{db01, db02, ciA, ciB, ciC}},
		{"duplicates-once", "webservers:prod_web:" + web01, []string{web01, web02, web03, stage}},
		{"intersection", "webservers:&production", []string{web01, web02, web03}},
		{"intersection-with-commas", "webservers,&staging", []string{stage}},
		{"exclusion", "webservers:!prod_web", []string{stage}},
		{"exclusion-written-first", "!dbservers:production", []string{web01, web02, web03}},
		{"only-exclusion-starts-from-all", "!builders", []string{web01, web02, web03, stage, db01, db02, jump}},
		{"only-intersection", "&production", []string{web01, web02, web03, db01, db02}},
		{"intersection-then-exclusion", "all:&production:!" + web02, []string{web01, web03, db01, db02}},
		{"glob-matches-groups-and-hosts", "db*", []string{db01, db02}},
		{"glob-host-suffix", "*.stage.corp.example", []string{stage}},
		{"glob-question-mark", "web0?.prod.corp.example", []string{web01, web02, web03}},
		{"glob-class", "ci-[ab].corp.example", []string{ciA, ciB}},
		{"glob-negated-class", "ci-[!ab].corp.example", []string{ciC}},
		{"glob-class-with-colon", "ci-[a:b].corp.example", []string{ciA, ciB}},
		{"regexp", `~web0[12]\.prod`, []string{web01, web02}},
		{"regexp-anchored-at-start", `~prod`, []string{web01, web02, web03, db01, db02}},
		{"regexp-alternation", `~(ci-c|bastion)`, []string{ciC, jump}},
		{"subscript-first", "webservers[0]", []string{web01}},
		{"subscript-last", "webservers[-1]", []string{stage}},
		{"subscript-range", "webservers[1:2]", []string{web02, web03}},
		{"subscript-open-range", "prod_web[1:]", []string{web02, web03}},
		{"subscript-range-past-end", "builders[1:9]", []string{ciB, ciC}},
		{"subscript-in-union", "builders[0]:dbservers[-1]", []string{db02, ciA}},
		{"subscript-on-glob", "ci*[2]", []string{ciC}},
		{"unknown-name", "nosuch", nil},
		{"subscript-on-unknown-name", "nosuch[0]", nil},
		{"unknown-with-known", "nosuch:builders", []string{ciA, ciB, ciC}},
		{"limit-file", "@testdata/limit.txt", []string{web02, db01}},
		{"limit-file-with-intersection", "@testdata/limit.txt:&dbservers", []string{db01}},
		{"surrounding-space", "  builders  ", []string{ciA, ciB, ciC}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts, err := inv.Select(tt.pattern)
			if err != nil {
				t.Fatalf("Select(%q) error = %v; want none", tt.pattern, err)
			}
			if got := names(hosts); !slices.Equal(got, append([]string{}, tt.want...)) {
				t.Errorf("Select(%q) = %q; want %q", tt.pattern, got, tt.want)
			}
		})
	}
}

func TestSelectErrors(t *testing.T) {
	inv := mustLoad(t, "testdata/multitier/inventory.yml")
	tests := []struct {
		name    string
		pattern string
		want    string
	}{
		{"empty", "", `select hosts "": the host pattern is empty: use all to select every host`},
		{"blank", "  ", `select hosts "  ": the host pattern is empty: use all to select every host`},
		{"bad-regexp", "~web(", "select hosts \"~web(\": invalid regular expression \"web(\": error parsing regexp: missing closing ): `^(?:web()`"},
		{"index-past-end", "builders[3]", `select hosts "builders[3]": subscript in builders[3] is out of range: it matches 3 hosts, numbered from 0`},
		{"negative-index-past-start", "builders[-4]", `select hosts "builders[-4]": subscript in builders[-4] is out of range: it matches 3 hosts, numbered from 0`},
		{"missing-limit-file", "@testdata/missing.txt", `select hosts "@testdata/missing.txt": read host pattern file: open testdata/missing.txt: no such file or directory`},
		{"limit-file-without-path", "@", `select hosts "@": @ must be followed by the path of a file that lists host patterns`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts, err := inv.Select(tt.pattern)
			if err == nil {
				t.Fatalf("Select(%q) = %q, no error; want %q", tt.pattern, names(hosts), tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Select(%q) error =\n  %s\nwant\n  %s", tt.pattern, err, tt.want)
			}
		})
	}
}

func TestUnmatched(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"hosts.ini": "[spare]\n\n[web]\nweb-1\nweb-2\n",
		"limit":     "web-1\nghost-1\n!ghost-2\n",
	})
	inv := mustLoad(t, filepath.Join(dir, "hosts.ini"))
	limit := "@" + filepath.Join(dir, "limit")

	tests := []struct {
		name    string
		pattern string
		want    []string
	}{
		{"all-matches", "all", nil},
		{"known-host-and-group", "web-1:web", nil},
		{"empty-group-counts-as-match", "spare", nil},
		{"unknown-parts-as-written", "web:nosuch:&gone:!ghost", []string{"nosuch", "&gone", "!ghost"}},
		{"glob-without-match", "db*", []string{"db*"}},
		{"regexp-without-match", "~^db", []string{"~^db"}},
		{"empty-subscript-range", "web[5:9]", []string{"web[5:9]"}},
		{"subscript-on-unknown", "node[1:3]", []string{"node[1:3]"}},
		{"index-on-unknown", "node[0]", []string{"node[0]"}},
		{"limit-file-lines", limit, []string{"ghost-1", "!ghost-2"}},
		{"stops-at-error", "nosuch:~(:other", []string{"nosuch"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := inv.Unmatched(tt.pattern); !slices.Equal(got, tt.want) {
				t.Errorf("Unmatched(%q) = %q; want %q", tt.pattern, got, tt.want)
			}
		})
	}
}

func TestSplitHostPattern(t *testing.T) {
	tests := []struct {
		pattern string
		want    []string
	}{
		{"web:db", []string{"web", "db"}},
		{"web:&prod:!db", []string{"web", "&prod", "!db"}},
		{"web, &prod ,!db", []string{"web", "&prod", "!db"}},
		{"web[0:2]:db", []string{"web[0:2]", "db"}},
		{"node[1:3].example.com", []string{"node[1:3].example.com"}},
		{"2001:db8::1", []string{"2001:db8::1"}},
		{"[2001:db8::1]", []string{"2001:db8::1"}},
		{"a,b:c", []string{"a", "b:c"}}, // with a comma, colons do not separate
		{"::", []string{"::"}},          // the IPv6 unspecified address
		{":", nil},
	}
	for _, tt := range tests {
		if got := splitHostPattern(tt.pattern); !slices.Equal(got, tt.want) {
			t.Errorf("splitHostPattern(%q) = %q; want %q", tt.pattern, got, tt.want)
		}
	}
}

func TestGlobToRegexp(t *testing.T) {
	tests := []struct {
		glob  string
		name  string
		match bool
	}{
		{"web*", "web1", true},
		{"web*", "aweb1", false},
		{"w?b", "web", true},
		{"w?b", "wb", false},
		{"web.example.com", "webxexample.com", false},
		{"node[12]", "node2", true},
		{"node[!12]", "node2", false},
		{"node[!12]", "node3", true},
		{"node[a-c]", "nodeb", true},
		{"node[]]", "node]", true},
		{"node[^x]", "node^", true},
		{"node[", "node[", true},
		{"(web)+", "(web)+", true},
		{"héllo*", "héllo-1", true},
	}
	for _, tt := range tests {
		re, err := compileNamePattern(tt.glob)
		if err != nil {
			t.Errorf("compileNamePattern(%q) error = %v", tt.glob, err)
			continue
		}
		if got := re.MatchString(tt.name); got != tt.match {
			t.Errorf("glob %q matches %q = %v; want %v (regexp %s)", tt.glob, tt.name, got, tt.match, re)
		}
	}
}

func TestSelectIPv6Host(t *testing.T) {
	dir := writeFiles(t, map[string]string{"hosts": "[v6]\n[2001:db8::5]:2222\n2001:db8::6\n"})
	inv := mustLoad(t, filepath.Join(dir, "hosts"))
	for _, pattern := range []string{"2001:db8::5", "[2001:db8::5]"} {
		hosts, err := inv.Select(pattern)
		if err != nil {
			t.Fatal(err)
		}
		if got := names(hosts); !slices.Equal(got, []string{"2001:db8::5"}) {
			t.Errorf("Select(%s) = %q; want [2001:db8::5]", pattern, got)
		}
	}
	conn, err := mustHost(t, inv, "2001:db8::5").Connection()
	if err != nil {
		t.Fatal(err)
	}
	if conn.Address != "2001:db8::5" || conn.Port != 2222 {
		t.Errorf("Connection() = %s port %d; want 2001:db8::5 port 2222", conn.Address, conn.Port)
	}
	if got := strings.Join(names(inv.Hosts()), " "); got != "2001:db8::5 2001:db8::6" {
		t.Errorf("Hosts() = %s; want 2001:db8::5 2001:db8::6", got)
	}
}

func TestSelectConcurrentReads(t *testing.T) {
	inv := mustLoad(t, "testdata/multitier/inventory.yml")
	want := []string{web01, web02, web03, stage}
	results := make(chan []string, 8)
	for range 8 {
		go func() {
			hosts, err := inv.Select("webservers:&~web")
			if err != nil {
				results <- []string{err.Error()}
				return
			}
			for _, h := range hosts {
				if _, err := h.Connection(); err != nil {
					results <- []string{err.Error()}
					return
				}
			}
			results <- names(hosts)
		}()
	}
	for range 8 {
		if got := <-results; !slices.Equal(got, want) {
			t.Errorf("concurrent Select = %q; want %q", got, want)
		}
	}
}

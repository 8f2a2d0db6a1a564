package daemonjson

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
)

func TestMergeInsecure(t *testing.T) {
	tests := []struct {
		name        string
		orig        string
		add         []string
		remove      []string
		want        string
		wantChanged bool
	}{
		{
			name:        "append-key-two-spaces",
			orig:        "{\n  \"debug\": true,\n  \"log-opts\": {\"max-size\": \"10m\"}\n}\n",
			add:         []string{"10.0.0.5:5000"},
			want:        "{\n  \"debug\": true,\n  \"log-opts\": {\"max-size\": \"10m\"},\n  \"insecure-registries\": [\"10.0.0.5:5000\"]\n}\n",
			wantChanged: true,
		},
		{
			name:        "append-key-four-spaces",
			orig:        "{\n    \"debug\": true,\n    \"live-restore\": true\n}\n",
			add:         []string{"registry.lan:5000"},
			want:        "{\n    \"debug\": true,\n    \"live-restore\": true,\n    \"insecure-registries\": [\"registry.lan:5000\"]\n}\n",
			wantChanged: true,
		},
		{
			name:        "append-key-tabs",
			orig:        "{\n\t\"debug\": true\n}\n",
			add:         []string{"registry.lan"},
			want:        "{\n\t\"debug\": true,\n\t\"insecure-registries\": [\"registry.lan\"]\n}\n",
			wantChanged: true,
		},
		{
			name:        "append-entry-inline-list",
			orig:        "{\n    \"insecure-registries\": [\"a.lan:5000\"],\n    \"debug\": true\n}\n",
			add:         []string{"b.lan:5000"},
			want:        "{\n    \"insecure-registries\": [\"a.lan:5000\", \"b.lan:5000\"],\n    \"debug\": true\n}\n",
			wantChanged: true,
		},
		{
			name:        "append-entry-compact-list",
			orig:        `{"insecure-registries":["a.lan","b.lan"],"debug":true}`,
			add:         []string{"c.lan"},
			want:        `{"insecure-registries":["a.lan","b.lan","c.lan"],"debug":true}`,
			wantChanged: true,
		},
		{
			name:        "append-entry-multiline-list",
			orig:        "{\n    \"insecure-registries\": [\n        \"a.lan:5000\"\n    ],\n    \"debug\": true\n}\n",
			add:         []string{"b.lan:5000"},
			want:        "{\n    \"insecure-registries\": [\n        \"a.lan:5000\",\n        \"b.lan:5000\"\n    ],\n    \"debug\": true\n}\n",
			wantChanged: true,
		},
		{
			name:        "append-entry-empty-multiline-list",
			orig:        "{\n\t\"insecure-registries\": [\n\t]\n}\n",
			add:         []string{"b.lan"},
			want:        "{\n\t\"insecure-registries\": [\n\t\t\"b.lan\"\n\t]\n}\n",
			wantChanged: true,
		},
		{
			name:        "existing-entry-other-spelling",
			orig:        "{\n  \"insecure-registries\": [\"Registry.LAN:5000\"]\n}\n",
			add:         []string{" https://registry.lan:5000/ "},
			want:        "{\n  \"insecure-registries\": [\"Registry.LAN:5000\"]\n}\n",
			wantChanged: false,
		},
		{
			name:        "repeated-additions-once",
			orig:        "{}\n",
			add:         []string{"a.lan", "A.lan", "http://a.lan"},
			want:        "{\n  \"insecure-registries\": [\"a.lan\"]\n}\n",
			wantChanged: true,
		},
		{
			name:        "remove-one",
			orig:        "{\n  \"insecure-registries\": [\"a.lan\", \"b.lan\"]\n}\n",
			remove:      []string{"http://A.lan"},
			want:        "{\n  \"insecure-registries\": [\"b.lan\"]\n}\n",
			wantChanged: true,
		},
		{
			name:        "remove-all-writes-empty-list",
			orig:        "{\n  \"insecure-registries\": [\n    \"a.lan\"\n  ],\n  \"debug\": true\n}\n",
			remove:      []string{"a.lan"},
			want:        "{\n  \"insecure-registries\": [],\n  \"debug\": true\n}\n",
			wantChanged: true,
		},
		{
			name:        "remove-missing-entry",
			orig:        "{\n  \"insecure-registries\": [\"a.lan\"]\n}\n",
			remove:      []string{"b.lan"},
			want:        "{\n  \"insecure-registries\": [\"a.lan\"]\n}\n",
			wantChanged: false,
		},
		{
			name:        "remove-without-key",
			orig:        "{\n  \"debug\": true\n}\n",
			remove:      []string{"b.lan"},
			want:        "{\n  \"debug\": true\n}\n",
			wantChanged: false,
		},
		{
			name:        "add-and-remove",
			orig:        "{\"insecure-registries\": [\"old.lan\", \"keep.lan\"]}",
			add:         []string{"new.lan"},
			remove:      []string{"old.lan"},
			want:        "{\"insecure-registries\": [\"keep.lan\", \"new.lan\"]}",
			wantChanged: true,
		},
		{
			name:        "empty-object",
			orig:        "{}\n",
			add:         []string{"[fd00::1]:5000"},
			want:        "{\n  \"insecure-registries\": [\"[fd00::1]:5000\"]\n}\n",
			wantChanged: true,
		},
		{
			name:        "empty-object-with-space",
			orig:        "  { \n }",
			add:         []string{"10.0.0.0/8"},
			want:        "  {\n  \"insecure-registries\": [\"10.0.0.0/8\"]\n}",
			wantChanged: true,
		},
		{
			name:        "one-line-compact",
			orig:        `{"debug":true}`,
			add:         []string{"a.lan"},
			want:        `{"debug":true,"insecure-registries":["a.lan"]}`,
			wantChanged: true,
		},
		{
			name:        "one-line-spaced",
			orig:        `{ "debug": true, "icc": false }`,
			add:         []string{"a.lan", "b.lan"},
			want:        `{ "debug": true, "icc": false, "insecure-registries": ["a.lan", "b.lan"] }`,
			wantChanged: true,
		},
		{
			name:        "space-before-colon",
			orig:        "{\n  \"debug\" : true\n}\n",
			add:         []string{"a.lan"},
			want:        "{\n  \"debug\" : true,\n  \"insecure-registries\" : [\"a.lan\"]\n}\n",
			wantChanged: true,
		},
		{
			name:        "crlf",
			orig:        "{\r\n  \"insecure-registries\": [\r\n    \"a.lan\"\r\n  ],\r\n  \"debug\": true\r\n}\r\n",
			add:         []string{"b.lan"},
			want:        "{\r\n  \"insecure-registries\": [\r\n    \"a.lan\",\r\n    \"b.lan\"\r\n  ],\r\n  \"debug\": true\r\n}\r\n",
			wantChanged: true,
		},
		{
			name:        "crlf-new-key",
			orig:        "{\r\n  \"debug\": true\r\n}\r\n",
			add:         []string{"b.lan"},
			want:        "{\r\n  \"debug\": true,\r\n  \"insecure-registries\": [\"b.lan\"]\r\n}\r\n",
			wantChanged: true,
		},
		{
			name:        "byte-order-mark-kept",
			orig:        "\xEF\xBB\xBF{\n  \"debug\": true\n}\n",
			add:         []string{"a.lan"},
			want:        "\xEF\xBB\xBF{\n  \"debug\": true,\n  \"insecure-registries\": [\"a.lan\"]\n}\n",
			wantChanged: true,
		},
		{
			name:        "other-values-byte-exact",
			orig:        "{\n  \"labels\": [ \"x=1\" ,\"y=2\" ],\n  \"mtu\": 1.5e3,\n  \"log-opts\": {\"tag\": \"caf\\u00e9 <&>\"},\n  \"insecure-registries\": []\n}\n",
			add:         []string{"a.lan"},
			want:        "{\n  \"labels\": [ \"x=1\" ,\"y=2\" ],\n  \"mtu\": 1.5e3,\n  \"log-opts\": {\"tag\": \"caf\\u00e9 <&>\"},\n  \"insecure-registries\": [\"a.lan\"]\n}\n",
			wantChanged: true,
		},
		{
			name:        "invalid-existing-entry-kept",
			orig:        `{"insecure-registries": ["http://legacy.lan/path"]}`,
			add:         []string{"a.lan"},
			want:        `{"insecure-registries": ["http://legacy.lan/path", "a.lan"]}`,
			wantChanged: true,
		},
		{
			name:        "nothing-requested",
			orig:        "{\"debug\": true}\n",
			want:        "{\"debug\": true}\n",
			wantChanged: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := []byte(tt.orig)
			out, changed, err := MergeInsecure(orig, tt.add, tt.remove)
			if err != nil {
				t.Fatalf("MergeInsecure: got error %v; want nil", err)
			}
			if string(out) != tt.want {
				t.Errorf("output:\ngot  %q\nwant %q", out, tt.want)
			}
			if changed != tt.wantChanged {
				t.Errorf("changed: got %v; want %v", changed, tt.wantChanged)
			}
			if !changed && len(orig) > 0 && &out[0] != &orig[0] {
				t.Errorf("unchanged output is a copy; want the original slice")
			}
			again, changedAgain, err := MergeInsecure(out, tt.add, tt.remove)
			if err != nil || changedAgain || !bytes.Equal(again, out) {
				t.Errorf("second run: got changed=%v err=%v output %q; want the same output unchanged", changedAgain, err, again)
			}
		})
	}
}

func TestMergeInsecureMissingFile(t *testing.T) {
	tests := []struct {
		name        string
		add         []string
		remove      []string
		want        []byte
		wantChanged bool
	}{
		{"create", []string{"http://10.0.0.5:5000/"}, nil, []byte("{\n  \"insecure-registries\": [\"10.0.0.5:5000\"]\n}\n"), true},
		{"create-several", []string{"a.lan", "b.lan:5000"}, nil, []byte("{\n  \"insecure-registries\": [\"a.lan\", \"b.lan:5000\"]\n}\n"), true},
		{"remove-only", nil, []string{"a.lan"}, nil, false},
		{"nothing", nil, nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, changed, err := MergeInsecure(nil, tt.add, tt.remove)
			if err != nil {
				t.Fatalf("MergeInsecure: got error %v; want nil", err)
			}
			if !bytes.Equal(out, tt.want) || (out == nil) != (tt.want == nil) {
				t.Errorf("output: got %q; want %q", out, tt.want)
			}
			if changed != tt.wantChanged {
				t.Errorf("changed: got %v; want %v", changed, tt.wantChanged)
			}
		})
	}
}

func TestMergeInsecureErrors(t *testing.T) {
	const fix = "; fix the file by hand"
	tests := []struct {
		name    string
		orig    string
		add     []string
		remove  []string
		wantErr string
	}{
		{"empty", "", []string{"a.lan"}, nil, "parse daemon.json: file is empty; write {} into it or delete it, then run again"},
		{"whitespace-only", " \n\t\n", []string{"a.lan"}, nil, "parse daemon.json: file is empty; write {} into it or delete it, then run again"},
		{"trailing-comma", "{\n  \"debug\": true,\n}\n", []string{"a.lan"}, nil, "parse daemon.json: invalid JSON at line 3, column 1: invalid character '}' looking for beginning of object key string" + fix},
		{"truncated", "{\n  \"debug\": true", []string{"a.lan"}, nil, "parse daemon.json: invalid JSON at line 2, column 16: unexpected end of JSON input" + fix},
		{"comment", "{\n  // my settings\n  \"debug\": true\n}", []string{"a.lan"}, nil, "parse daemon.json: invalid JSON at line 2, column 3: invalid character '/' looking for beginning of object key string" + fix},
		{"text-after-object", "{}\nx", []string{"a.lan"}, nil, "parse daemon.json: invalid JSON at line 2, column 1: invalid character 'x' after top-level value" + fix},
		{"several-values", "{\"debug\": true}\n{\"icc\": false}\n", []string{"a.lan"}, nil, "parse daemon.json: file has several top-level values (a second one starts at line 2, column 1); merge them into one object"},
		{"top-level-list", "[\"a.lan\"]", []string{"a.lan"}, nil, "parse daemon.json: top-level value is a list, but dockerd needs an object ({...}); fix the file by hand"},
		{"top-level-null", "null", []string{"a.lan"}, nil, "parse daemon.json: top-level value is null, but dockerd needs an object ({...}); fix the file by hand"},
		{"top-level-string", "\"{}\"", []string{"a.lan"}, nil, "parse daemon.json: top-level value is a string, but dockerd needs an object ({...}); fix the file by hand"},
		{"list-is-string", `{"insecure-registries": "a.lan"}`, []string{"b.lan"}, nil, `parse daemon.json: "insecure-registries" is a string, but dockerd needs a list of strings; fix the file by hand`},
		{"list-is-null", `{"insecure-registries": null}`, []string{"b.lan"}, nil, `parse daemon.json: "insecure-registries" is null, but dockerd needs a list of strings; fix the file by hand`},
		{"list-is-object", `{"insecure-registries": {}}`, nil, []string{"b.lan"}, `parse daemon.json: "insecure-registries" is an object, but dockerd needs a list of strings; fix the file by hand`},
		{"list-with-number", `{"insecure-registries": ["a.lan", 5000]}`, []string{"b.lan"}, nil, `parse daemon.json: "insecure-registries" item 2 is a number, but dockerd needs a string; fix the file by hand`},
		{"duplicate-key", `{"insecure-registries": [], "insecure-registries": ["a.lan"]}`, []string{"b.lan"}, nil, `parse daemon.json: key "insecure-registries" appears twice; keep one and run again`},
		{"utf-16", "\xFF\xFE{\x00}\x00", []string{"b.lan"}, nil, "parse daemon.json: file is UTF-16; save it as UTF-8 and run again"},
		{"invalid-addition", "{}", []string{"a.lan/v2"}, nil, `invalid registry "a.lan/v2": has a path, or a CIDR that does not parse; want host, host:port, [IPv6]:port or a CIDR such as 10.0.0.0/8`},
		{"invalid-removal", "{}", nil, []string{""}, `invalid registry "": empty; want host, host:port, [IPv6]:port or a CIDR such as 10.0.0.0/8`},
		{"add-and-remove-same", "{}", []string{"a.lan"}, []string{"http://A.LAN"}, `registry "a.lan" is both added to and removed from insecure-registries; keep it in one list`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, changed, err := MergeInsecure([]byte(tt.orig), tt.add, tt.remove)
			if err == nil {
				t.Fatalf("MergeInsecure: got output %q; want error", out)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("error:\ngot  %v\nwant %s", err, tt.wantErr)
			}
			if changed || out != nil {
				t.Errorf("on error: got changed=%v output %q; want false and nil", changed, out)
			}
		})
	}
}

func TestNormalizeRegistry(t *testing.T) {
	tests := []struct {
		entry string
		want  string
	}{
		{"registry.lan", "registry.lan"},
		{"Registry.LAN:5000", "registry.lan:5000"},
		{"  registry.lan:5000\t", "registry.lan:5000"},
		{"http://registry.lan:5000", "registry.lan:5000"},
		{"HTTPS://registry.lan/", "registry.lan"},
		{"https://registry.lan:443/", "registry.lan:443"},
		{"10.0.0.5:5000", "10.0.0.5:5000"},
		{"localhost:1", "localhost:1"},
		{"my-registry:65535", "my-registry:65535"},
		{"[FD00::1]:5000", "[fd00::1]:5000"},
		{"[fd00:0:0::1]", "[fd00::1]"},
		{"10.0.0.0/8", "10.0.0.0/8"},
		{"http://192.168.0.0/16", "192.168.0.0/16"},
		{"FD00::/8", "fd00::/8"},
	}
	for _, tt := range tests {
		t.Run(tt.entry, func(t *testing.T) {
			got, err := NormalizeRegistry(tt.entry)
			if err != nil {
				t.Fatalf("NormalizeRegistry(%q): got error %v; want %q", tt.entry, err, tt.want)
			}
			if got != tt.want {
				t.Errorf("NormalizeRegistry(%q): got %q; want %q", tt.entry, got, tt.want)
			}
		})
	}
}

func TestNormalizeRegistryInvalid(t *testing.T) {
	const forms = "; want host, host:port, [IPv6]:port or a CIDR such as 10.0.0.0/8"
	tests := []struct {
		entry  string
		reason string
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"http://", "empty"},
		{"registry.lan/v2", "has a path, or a CIDR that does not parse"},
		{"registry.lan//", "has a path, or a CIDR that does not parse"},
		{"10.0.0.0/33", "has a path, or a CIDR that does not parse"},
		{"registry lan", "contains a space"},
		{"registry.lan\n:5000", "contains a control character"},
		{"registry.lan\x7f", "contains a control character"},
		{"régistry.lan", "contains a non-ASCII character (write an internationalised name in its xn-- form)"},
		{"registry..lan", `empty label in host name ("..", or a leading or trailing dot)`},
		{".registry.lan", `empty label in host name ("..", or a leading or trailing dot)`},
		{"registry.lan.", `empty label in host name ("..", or a leading or trailing dot)`},
		{"-registry.lan", `label "-registry" starts or ends with a hyphen`},
		{"registry_lan", `character '_' not allowed in a host name`},
		{strings.Repeat("a", 64) + ".lan", `label "` + strings.Repeat("a", 64) + `" longer than 63 characters`},
		{strings.Repeat("abcdefgh.", 29) + "lan", "host name longer than 253 characters"},
		{":5000", "missing host"},
		{"registry.lan:", `port "" is not a number from 1 to 65535 without leading zeros`},
		{"registry.lan:0", `port "0" is not a number from 1 to 65535 without leading zeros`},
		{"registry.lan:65536", `port "65536" is not a number from 1 to 65535 without leading zeros`},
		{"registry.lan:05000", `port "05000" is not a number from 1 to 65535 without leading zeros`},
		{"registry.lan:+50", `port "+50" is not a number from 1 to 65535 without leading zeros`},
		{"registry.lan:http", `port "http" is not a number from 1 to 65535 without leading zeros`},
		{"fd00::1", "an IPv6 address needs brackets, as in [fd00::1]:5000"},
		{"[fd00::1", "missing ]"},
		{"[fd00::1]5000", "unexpected text after ]"},
		{"[10.0.0.1]:5000", "brackets must contain an IPv6 address without zone"},
		{"[fe80::1%eth0]:5000", "brackets must contain an IPv6 address without zone"},
		{"ftp://registry.lan", "has a path, or a CIDR that does not parse"},
	}
	for _, tt := range tests {
		t.Run(tt.entry, func(t *testing.T) {
			got, err := NormalizeRegistry(tt.entry)
			if err == nil {
				t.Fatalf("NormalizeRegistry(%q): got %q; want error", tt.entry, got)
			}
			want := "invalid registry " + strconv.Quote(tt.entry) + ": " + tt.reason + forms
			if err.Error() != want {
				t.Errorf("error:\ngot  %v\nwant %s", err, want)
			}
		})
	}
}

func BenchmarkMergeInsecure(b *testing.B) {
	orig := []byte("{\n  \"debug\": true,\n  \"log-driver\": \"json-file\",\n  \"log-opts\": {\"max-size\": \"10m\", \"max-file\": \"3\"},\n  \"insecure-registries\": [\"a.lan:5000\", \"10.0.0.0/8\"],\n  \"live-restore\": true\n}\n")
	add := []string{"http://b.lan:5000/"}
	for b.Loop() {
		if _, _, err := MergeInsecure(orig, add, nil); err != nil {
			b.Fatal(err)
		}
	}
}

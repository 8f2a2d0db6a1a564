package inventory

import (
	"fmt"
	"slices"
	"testing"
)

func TestHostEntryNames(t *testing.T) {
	tests := []struct {
		name  string
		entry string
		hosts []string
		port  int
	}{
		{"plain", "web1.example.com", []string{"web1.example.com"}, 0},
		{"with-port", "web1.example.com:2222", []string{"web1.example.com"}, 2222},
		{"ipv4", "192.0.2.10", []string{"192.0.2.10"}, 0},
		{"ipv4-port", "192.0.2.10:2200", []string{"192.0.2.10"}, 2200},
		{"ipv6", "2001:db8::1", []string{"2001:db8::1"}, 0},
		{"ipv6-bracketed", "[2001:db8::1]", []string{"2001:db8::1"}, 0},
		{"ipv6-bracketed-port", "[2001:db8::1]:2222", []string{"2001:db8::1"}, 2222},
		{"numeric-range", "node[1:3]", []string{"node1", "node2", "node3"}, 0},
		{"zero-padded-range", "node[08:11].lab", []string{"node08.lab", "node09.lab", "node10.lab", "node11.lab"}, 0},
		{"range-with-port", "node[1:2]:2200", []string{"node1", "node2"}, 2200},
		{"stride", "node[1:10:4]", []string{"node1", "node5", "node9"}, 0},
		{"padded-stride", "node[001:010:5]", []string{"node001", "node006"}, 0},
		{"letter-range", "db-[a:c]", []string{"db-a", "db-b", "db-c"}, 0},
		{"letter-range-across-case", "x[y:B]", []string{"xy", "xz", "xA", "xB"}, 0},
		{"letter-stride", "x[a:e:2]", []string{"xa", "xc", "xe"}, 0},
		{"empty-start-means-zero", "n[:2]", []string{"n0", "n1", "n2"}, 0},
		{"leading-range", "[a:b]-db", []string{"a-db", "b-db"}, 0},
		{"two-ranges", "r[1:2]n[a:b]", []string{"r1na", "r1nb", "r2na", "r2nb"}, 0},
		{"single-value-range", "n[5:5]", []string{"n5"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts, port, err := hostEntryNames(tt.entry)
			if err != nil {
				t.Fatalf("hostEntryNames(%q) error = %v; want none", tt.entry, err)
			}
			if !slices.Equal(hosts, tt.hosts) {
				t.Errorf("hostEntryNames(%q) hosts = %q; want %q", tt.entry, hosts, tt.hosts)
			}
			if port != tt.port {
				t.Errorf("hostEntryNames(%q) port = %d; want %d", tt.entry, port, tt.port)
			}
		})
	}
}

func TestHostEntryNamesErrors(t *testing.T) {
	tests := []struct {
		name  string
		entry string
		want  string
	}{
		{"empty", "", "host name is empty"},
		{"trailing-colon", "web1:", `invalid host "web1:": it ends in a colon; add a port number or remove the colon`},
		{"port-not-number", "web1:ssh", `invalid host "web1:ssh": a colon outside [start:end] may only introduce a port`},
		{"two-colons", "a:b:22", `invalid host "a:b:22": a colon outside [start:end] may only introduce a port`},
		{"port-zero", "web1:0", `invalid port in host "web1:0": use a port from 1 to 65535`},
		{"port-too-big", "web1:65536", `invalid port in host "web1:65536": use a port from 1 to 65535`},
		{"ipv6-junk-after", "[2001:db8::1]x", `invalid host "[2001:db8::1]x": write an IPv6 address with a port as [address]:port`},
		{"ipv6-bad-port", "[2001:db8::1]:70000", `invalid port in host "[2001:db8::1]:70000": use a port from 1 to 65535`},
		{"unclosed", "node[1:3", `invalid host range in "node[1:3": found '[' without ']'`},
		{"stray-close", "node1:3]", `invalid host "node1:3]": a colon outside [start:end] may only introduce a port`},
		{"stray-close-only", "node]", `invalid host range in "node]": found ']' without '['`},
		{"no-colon", "node[1]", `invalid host range in "node[1]": range [1] must be [start:end] or [start:end:stride]`},
		{"four-parts", "node[1:2:3:4]", `invalid host range in "node[1:2:3:4]": range [1:2:3:4] must be [start:end] or [start:end:stride]`},
		{"no-end", "node[1:]", `invalid host range in "node[1:]": range [1:] has no end`},
		{"reversed", "node[5:1]", `invalid host range in "node[5:1]": range [5:1] starts after its end`},
		{"reversed-letters", "node[c:a]", `invalid host range in "node[c:a]": range [c:a] starts after its end`},
		{"mixed-bounds", "node[1:c]", `invalid host range in "node[1:c]": range [1:c] must have two numbers or two letters as bounds`},
		{"negative", "node[-1:3]", `invalid host range in "node[-1:3]": range [-1:3] must have two numbers or two letters as bounds`},
		{"padding-width", "node[01:100]", `invalid host range in "node[01:100]": range [01:100] pads with zeros, so start and end must have the same number of digits, as in [01:50]`},
		{"zero-stride", "node[1:5:0]", `invalid host range in "node[1:5:0]": range [1:5:0] has an invalid stride "0": use a whole number of 1 or more`},
		{"too-many", "node[0:100000]", fmt.Sprintf(`invalid host range in "node[0:100000]": it expands to more than %d host names`, maxRangeHosts)},
		{"too-many-combined", "n[0:999]m[0:999]", fmt.Sprintf(`invalid host range in "n[0:999]m[0:999]": it expands to more than %d host names`, maxRangeHosts)},
		{"huge-bound", "n[0:99999999999999999999]", `invalid host range in "n[0:99999999999999999999]": range [0:99999999999999999999] must have two numbers or two letters as bounds`},
		{"space-in-name", "web 1", `invalid host name "web 1": it contains a space or control character`},
		{"variable-as-host", "ansible_password=s3cret",
			`invalid host name: it contains '=', so it reads as a variable; put variables after a host name or in a [group:vars] section`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts, _, err := hostEntryNames(tt.entry)
			if err == nil {
				t.Fatalf("hostEntryNames(%q) = %q, no error; want %q", tt.entry, hosts, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("hostEntryNames(%q) error = %q; want %q", tt.entry, err, tt.want)
			}
		})
	}
}

func TestHostEntryNamesMaxRange(t *testing.T) {
	hosts, _, err := hostEntryNames(fmt.Sprintf("n[1:%d]", maxRangeHosts))
	if err != nil {
		t.Fatalf("range of exactly %d hosts: error %v; want none", maxRangeHosts, err)
	}
	if len(hosts) != maxRangeHosts {
		t.Errorf("got %d hosts; want %d", len(hosts), maxRangeHosts)
	}
}

package tasks

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// containerdHostsFile returns the hosts.toml that makes containerd trust
// caPath, and client when it is not empty, for pulls from address.
// containerd reads certs.d/HOST/hosts.toml at every pull when its CRI
// registry config_path names the certs.d folder (containerd 1.5 and
// later), and ctr reads it with --hosts-dir.
//
// A missing file is written whole. An existing file is kept, comments
// and all, and the registry's [host."https://ADDRESS"] table is appended
// when it has none, with server = "https://ADDRESS" in front when the file
// has no server. A table that already exists with another ca or client is
// an error, because changing it in place could break what an operator
// wrote there.
func containerdHostsFile(name string, st *FileState, address, caPath string, client []string) ([]byte, error) {
	url := "https://" + address
	table := renderHostTable(url, caPath, client)
	if !st.Exists {
		return []byte(fmt.Sprintf("# Written by regtrust: pulls from %s trust the CA in ca.crt.\nserver = %s\n\n%s", address, tomlString(url), table)), nil
	}
	if !st.ContentRead {
		return nil, fmt.Errorf("%s is larger than %d bytes; regtrust does not edit it", name, maxContent)
	}
	current, err := parseHostsTOML(name, st.Content)
	if err != nil {
		return nil, err
	}
	if entry, ok := current.Host[url]; ok {
		if entry.trusts(caPath, client) {
			return st.Content, nil
		}
		return nil, fmt.Errorf("%s already has a [host.%s] table with ca = %v and client = %v; set ca = %s there (and client, if any) or remove the table, then run again",
			name, tomlString(url), entry.CA, entry.Client, tomlString(caPath))
	}
	var out bytes.Buffer
	if current.Server == "" {
		fmt.Fprintf(&out, "server = %s\n", tomlString(url))
	}
	out.Write(st.Content)
	if len(st.Content) > 0 && !bytes.HasSuffix(st.Content, []byte("\n")) {
		out.WriteByte('\n')
	}
	out.WriteString("\n" + table)
	merged, err := parseHostsTOML(name, out.Bytes())
	if err != nil || !merged.Host[url].trusts(caPath, client) {
		return nil, fmt.Errorf("%s cannot be merged safely (the result would not parse or would not hold the [host.%s] table); add the table by hand: %s", name, tomlString(url), strings.ReplaceAll(table, "\n", " "))
	}
	return out.Bytes(), nil
}

// hostsTOML is the part of containerd's hosts.toml that regtrust reads.
type hostsTOML struct {
	Server string               `toml:"server"`
	Host   map[string]hostEntry `toml:"host"`
}

// hostEntry is one [host."URL"] table. containerd accepts ca as one path
// or a list of paths, and client as one pair or a list of them, so both
// stay untyped until compared.
type hostEntry struct {
	CA     any `toml:"ca"`
	Client any `toml:"client"`
}

func parseHostsTOML(name string, data []byte) (hostsTOML, error) {
	var h hostsTOML
	if err := toml.Unmarshal(data, &h); err != nil {
		return hostsTOML{}, fmt.Errorf("%s is not valid TOML, so regtrust cannot merge into it: %w; fix or remove it", name, err)
	}
	return h, nil
}

// trusts reports whether the entry names caPath among its CAs and, when
// client is not empty, exactly that client pair.
func (e hostEntry) trusts(caPath string, client []string) bool {
	if !slices.Contains(tomlStrings(e.CA), caPath) {
		return false
	}
	pairs := tomlPairs(e.Client)
	if len(client) == 0 {
		return len(pairs) == 0
	}
	return len(pairs) == 1 && slices.Equal(pairs[0], client)
}

// tomlStrings reads a string or a list of strings.
func tomlStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, item := range v {
			if s, ok := item.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// tomlPairs reads client, which is a path, a [cert, key] pair or a list
// of such pairs.
func tomlPairs(v any) [][]string {
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		return [][]string{{v}}
	case []any:
		if len(v) > 0 {
			if _, nested := v[0].([]any); !nested {
				return [][]string{tomlStrings(v)}
			}
		}
		var out [][]string
		for _, item := range v {
			out = append(out, tomlStrings(item))
		}
		return out
	}
	return nil
}

func renderHostTable(url, caPath string, client []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[host.%s]\n  ca = %s\n", tomlString(url), tomlString(caPath))
	if len(client) == 2 {
		fmt.Fprintf(&b, "  client = [[%s, %s]]\n", tomlString(client[0]), tomlString(client[1]))
	}
	return b.String()
}

// tomlString quotes s as a TOML basic string. Registry addresses and
// validated folders hold no control characters, so escaping the
// backslash and the quote is enough.
func tomlString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

package daemonjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
)

// flatKeys are the keys whose object values dockerd keeps whole. For any
// other key with an object value, dockerd treats the keys inside the
// object as settings of their own when it looks for settings that are
// also given as flags (moby daemon/config/config.go, flatOptions and
// configValuesSet).
var flatKeys = map[string]bool{
	"cluster-store-opts":   true,
	"default-network-opts": true,
	"log-opts":             true,
	"runtimes":             true,
	"default-ulimits":      true,
	"features":             true,
	"builder":              true,
}

// members decodes the top-level object of a daemon.json into its raw
// member values. It returns the same errors as MergeInsecure for files
// that dockerd cannot read.
func members(data []byte) (map[string]json.RawMessage, error) {
	doc, err := parse(data)
	if err != nil {
		return nil, err
	}
	out := make(map[string]json.RawMessage, len(doc.members))
	for _, m := range doc.members {
		out[m.key] = json.RawMessage(doc.data[m.valueStart:m.valueEnd])
	}
	return out, nil
}

// Keys returns the settings that data sets, sorted, as dockerd counts
// them when it compares the file with its command-line flags: every
// top-level key, and for an object value outside [flatKeys] the keys
// inside that object.
func Keys(data []byte) ([]string, error) {
	ms, err := members(data)
	if err != nil {
		return nil, fmt.Errorf("parse daemon.json: %w", err)
	}
	set := map[string]bool{}
	for key, raw := range ms {
		if raw[0] != '{' || flatKeys[key] {
			set[key] = true
			continue
		}
		var inner map[string]json.RawMessage
		if err := json.Unmarshal(raw, &inner); err != nil {
			return nil, fmt.Errorf("parse daemon.json key %q: %w", key, err)
		}
		for k := range inner {
			set[k] = true
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, nil
}

// ChangedKeys returns the top-level keys that differ between the
// daemon.json contents before and after, sorted: keys added, removed or
// given another value. Values are compared without insignificant white
// space. A nil before means the file did not exist.
func ChangedKeys(before, after []byte) ([]string, error) {
	old := map[string]json.RawMessage{}
	if before != nil {
		var err error
		if old, err = members(before); err != nil {
			return nil, fmt.Errorf("parse old daemon.json: %w", err)
		}
	}
	cur, err := members(after)
	if err != nil {
		return nil, fmt.Errorf("parse new daemon.json: %w", err)
	}
	var changed []string
	for key, v := range cur {
		if w, ok := old[key]; !ok || !sameJSON(v, w) {
			changed = append(changed, key)
		}
	}
	for key := range old {
		if _, ok := cur[key]; !ok {
			changed = append(changed, key)
		}
	}
	sort.Strings(changed)
	return changed, nil
}

func sameJSON(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// InsecureRegistries returns the insecure-registries entries of data as
// written, and whether the key is present. A nil data means the file
// does not exist.
func InsecureRegistries(data []byte) (entries []string, present bool, err error) {
	if data == nil {
		return nil, false, nil
	}
	doc, err := parse(data)
	if err != nil {
		return nil, false, fmt.Errorf("parse daemon.json: %w", err)
	}
	list, err := doc.insecureList()
	if err != nil {
		return nil, false, fmt.Errorf("parse daemon.json: %w", err)
	}
	return list, doc.insecure != nil, nil
}

// ListedName returns the name under which dockerd lists an
// insecure-registries entry in `docker info`: a CIDR as its network
// address and prefix length (10.1.2.3/8 becomes 10.0.0.0/8), anything
// else without an http:// or https:// scheme, as dockerd strips it.
func ListedName(entry string) string {
	s := strings.TrimSpace(entry)
	lower := strings.ToLower(s)
	for _, scheme := range []string{"http://", "https://"} {
		if strings.HasPrefix(lower, scheme) {
			s = s[len(scheme):]
			break
		}
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked().String()
	}
	return s
}

// EntryDiff returns the entries of after that before lacks, and the
// entries of before that after lacks, each in the order written.
func EntryDiff(before, after []string) (added, removed []string) {
	for _, e := range after {
		if !slices.Contains(before, e) {
			added = append(added, e)
		}
	}
	for _, e := range before {
		if !slices.Contains(after, e) {
			removed = append(removed, e)
		}
	}
	return added, removed
}

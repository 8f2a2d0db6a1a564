package daemonjson

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// dockerd fails to start, and a reload fails, when a setting is given
// both as a command-line flag and in daemon.json, even with equal values:
// "the following directives are specified both as a flag and in the
// configuration file". Most flags share their name with the daemon.json
// key. The table below lists the ones that do not, as dockerd's flag
// definitions name them (moby cmd/dockerd/config.go, config_unix.go and
// options.go, Docker 20.10 to 28).
var flagKeys = map[string][]string{
	"insecure-registry":     {"insecure-registries"},
	"registry-mirror":       {"registry-mirrors"},
	"storage-opt":           {"storage-opts"},
	"authorization-plugin":  {"authorization-plugins"},
	"exec-opt":              {"exec-opts"},
	"default-network-opt":   {"default-network-opts"},
	"dns-opt":               {"dns-opts"},
	"label":                 {"labels"},
	"log-opt":               {"log-opts"},
	"node-generic-resource": {"node-generic-resources"},
	"default-ulimit":        {"default-ulimits"},
	"default-address-pool":  {"default-address-pools"},
	"cluster-store-opt":     {"cluster-store-opts"},
	"host":                  {"hosts"},
	// Newer dockerd reads the single address under its old key and the
	// list under the new one; a flag conflicts with either.
	"host-gateway-ip": {"host-gateway-ip", "host-gateway-ips"},
	// dockerd merges runtimes from --add-runtime and the file instead of
	// rejecting the pair.
	"add-runtime": nil,
	// These flags select or check the file and have no key in it.
	"config-file": nil,
	"validate":    nil,
	"version":     nil,
	"help":        nil,
}

// shortFlags maps dockerd's one-letter flags to their long names and
// whether the flag takes a value.
var shortFlags = map[byte]struct {
	long  string
	takes bool
}{
	'D': {"debug", false},
	'H': {"host", true},
	'l': {"log-level", true},
	'G': {"group", true},
	's': {"storage-driver", true},
	'b': {"bridge", true},
	'p': {"pidfile", true},
	'g': {"graph", true},
	'r': {"restart", false},
	'v': {"version", false},
	'h': {"help", false},
}

// FlagKeys returns the daemon.json keys that the long dockerd flag name
// conflicts with.
func FlagKeys(flag string) []string {
	if keys, ok := flagKeys[flag]; ok {
		return keys
	}
	return []string{flag}
}

// SetFlags returns the long names of the flags that a dockerd command
// line sets, in order and without repeats. args are the words after the
// program name. dockerd takes no positional arguments, so a word that does
// not start with "-" is the value of the flag before it.
func SetFlags(args []string) []string {
	var names []string
	add := func(name string) {
		if name != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	for _, arg := range args {
		switch {
		case arg == "--":
			return names
		case strings.HasPrefix(arg, "--"):
			name, _, _ := strings.Cut(arg[2:], "=")
			add(name)
		case strings.HasPrefix(arg, "-") && len(arg) > 1:
			// A cluster of one-letter flags, such as -D or -Dl debug or
			// -Hunix:///run/docker.sock; the first flag that takes a
			// value ends the cluster.
			for i := 1; i < len(arg); i++ {
				f, ok := shortFlags[arg[i]]
				if !ok {
					add(string(arg[i]))
					continue
				}
				add(f.long)
				if f.takes {
					break
				}
			}
		}
	}
	return names
}

// FlagSource is one place that gives dockerd command-line flags.
type FlagSource struct {
	// Where is the place's description for messages, such as
	// "ExecStart in /etc/systemd/system/docker.service.d/override.conf".
	Where string
	// Args are the command line's words after the program name.
	Args []string
}

// Conflict is a daemon.json key that a command-line flag also sets.
type Conflict struct {
	Key  string
	Flag string
	// Where is the list of sources that set the flag.
	Where []string
}

func (c Conflict) String() string {
	return fmt.Sprintf("daemon.json key %q is also set by flag --%s (%s)", c.Key, c.Flag, strings.Join(c.Where, "; "))
}

// Conflicts returns each flag of sources that sets one of the daemon.json
// keys, with every source that sets it, sorted by key and flag.
func Conflicts(keys []string, sources []FlagSource) []Conflict {
	byPair := map[[2]string]*Conflict{}
	for _, src := range sources {
		for _, flag := range SetFlags(src.Args) {
			for _, key := range FlagKeys(flag) {
				if !slices.Contains(keys, key) {
					continue
				}
				pair := [2]string{key, flag}
				c := byPair[pair]
				if c == nil {
					c = &Conflict{Key: key, Flag: flag}
					byPair[pair] = c
				}
				if !slices.Contains(c.Where, src.Where) {
					c.Where = append(c.Where, src.Where)
				}
			}
		}
	}
	out := make([]Conflict, 0, len(byPair))
	for _, c := range byPair {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Key != out[j].Key {
			return out[i].Key < out[j].Key
		}
		return out[i].Flag < out[j].Flag
	})
	return out
}

// reloadableKeys are the daemon.json keys that a running dockerd applies
// on SIGHUP (moby daemon/reload.go and reload_unix.go: Reload and
// reloadPlatform). Every other key takes effect only at the next start.
var reloadableKeys = map[string]bool{
	"debug":                            true,
	"labels":                           true,
	"live-restore":                     true,
	"max-concurrent-downloads":         true,
	"max-concurrent-uploads":           true,
	"max-download-attempts":            true,
	"shutdown-timeout":                 true,
	"features":                         true,
	"insecure-registries":              true,
	"registry-mirrors":                 true,
	"allow-nondistributable-artifacts": true,
	"network-diagnostic-port":          true,
	"runtimes":                         true,
	"default-runtime":                  true,
	"default-shm-size":                 true,
	"default-ipc-mode":                 true,
	"default-cgroupns-mode":            true,
}

// Reloadable reports whether a running dockerd applies a change of key
// when it reloads its configuration, so that no restart is needed.
func Reloadable(key string) bool {
	return reloadableKeys[key]
}

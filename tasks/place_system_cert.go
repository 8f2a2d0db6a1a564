package tasks

import (
	"context"
	"fmt"
	"path"
	"strings"

	"gopkg.in/yaml.v3"
)

// PlaceSystemCertName is the task that adds a registry's CA to the OS trust
// store.
const PlaceSystemCertName = "place_system_cert"

// placeSystemCert writes the CA into the OS trust store's anchor folder.
// The store must then be rebuilt (update_ca) and dockerd restarted,
// because Go programs such as dockerd read the system roots once per
// process.
type placeSystemCert struct {
	registry *Registry
}

func newPlaceSystemCert(args *yaml.Node, env *Env) (Task, error) {
	r, err := registryArgument(args, env)
	if err != nil {
		return nil, err
	}
	return &placeSystemCert{registry: r}, nil
}

func (p *placeSystemCert) Registry() *Registry { return p.registry }

// anchorNames are the file names of the registry's CAs in the anchor
// folder, one file per certificate, because Debian's
// update-ca-certificates reads only the first certificate of each file
// and only files ending in .crt. The first CA is regtrust-NAME.crt and
// the others regtrust-NAME+2.crt and up: '+' never occurs in a registry
// name, so no two registries share a file.
func (p *placeSystemCert) anchorNames() []string {
	n := max(len(p.registry.caList()), 1)
	names := make([]string, n)
	for i := range names {
		names[i] = p.anchorName(i)
	}
	return names
}

func (p *placeSystemCert) anchorName(i int) string {
	if i == 0 {
		return "regtrust-" + p.registry.Name + ".crt"
	}
	return fmt.Sprintf("regtrust-%s+%d.crt", p.registry.Name, i+1)
}

const extraAnchorsFactPrefix = "extra_anchors:"

// extraAnchorsScript lists the files of further CAs of the registry in
// dir, so that those left from an earlier, longer CA file are removed.
func (p *placeSystemCert) extraAnchorsScript(dir string) string {
	return fmt.Sprintf(`for f in %s/%s; do [ -e "$f" ] && printf '%%s\n' "$f"; done; true`,
		shellQuote(dir), shellQuote("regtrust-"+p.registry.Name+"+")+"*.crt")
}

func (p *placeSystemCert) Probes(t *Target) []Probe {
	probes := trustStoreProbes(t, p.anchorNames()...)
	for _, dir := range anchorDirs(t) {
		probes = append(probes, Probe{Key: extraAnchorsFactPrefix + p.registry.Name + ":" + dir, Script: p.extraAnchorsScript(dir)})
	}
	return probes
}

func (p *placeSystemCert) CheckApply(ctx context.Context, t *Target, apply bool) (Result, error) {
	r := p.registry
	if r.CA == nil {
		return Result{}, fmt.Errorf("internal error: CA of registry %s was not resolved", r.Name)
	}
	ts, err := detectTrustStore(t)
	if err != nil {
		return Result{}, err
	}
	cas := r.caList()
	files := make([]desiredFile, len(cas))
	wanted := map[string]bool{}
	for i, ca := range cas {
		files[i] = desiredFile{path: path.Join(ts.anchors, p.anchorName(i)), data: ca.PEM, mode: 0o644, kind: certFile}
		wanted[files[i].path] = true
	}
	res, err := converge(t, files)
	if err != nil {
		return Result{}, err
	}
	listed, err := t.Fact(extraAnchorsFactPrefix + r.Name + ":" + ts.anchors)
	if err != nil {
		return Result{}, err
	}
	var stale []string
	for _, f := range strings.Fields(listed) {
		if !wanted[f] {
			stale = append(stale, f)
		}
	}
	if len(stale) > 0 {
		if apply {
			var script strings.Builder
			for _, f := range stale {
				fmt.Fprintf(&script, "rm -f %s\n", shellQuote(f))
			}
			out, err := t.Exec(ctx, script.String())
			if err == nil {
				err = out.Err()
			}
			if err != nil {
				return Result{}, fmt.Errorf("remove CA files that registry %s no longer has: %w", r.Name, err)
			}
		}
		removed := "remove " + strings.Join(stale, ", ")
		if res.Changed {
			res.Message += "; " + removed
			res.Diff += "\n" + removed
		} else {
			res.Message, res.Diff = removed, removed
		}
		res.Changed = true
	}
	if res.Changed {
		t.anchorsChanged = true
	}
	return res, nil
}

package tasks

import (
	"context"
	"fmt"

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

// anchorName is the file name of the registry's CA in the anchor folder.
// Debian's update-ca-certificates only reads files ending in .crt.
func (p *placeSystemCert) anchorName() string {
	return "regtrust-" + p.registry.Name + ".crt"
}

func (p *placeSystemCert) Probes(t *Target) []Probe {
	return trustStoreProbes(t, p.anchorName())
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
	res, err := converge(t, []desiredFile{{path: ts.anchors + "/" + p.anchorName(), data: r.CA.PEM, mode: 0o644, kind: certFile}})
	if err != nil {
		return Result{}, err
	}
	if res.Changed {
		t.anchorsChanged = true
	}
	return res, nil
}

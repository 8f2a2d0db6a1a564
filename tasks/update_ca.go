package tasks

import (
	"context"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// UpdateCAName is the task that rebuilds the OS trust store.
const UpdateCAName = "update_ca"

// updateCA runs the trust store's update command when an anchor changed in
// this run or the store is older than one of regtrust's anchors. Either
// way is safe to repeat, so update_ca works as a task and as a handler.
type updateCA struct{}

func newUpdateCA(args *yaml.Node, env *Env) (Task, error) {
	if err := decodeArgs(args, &struct{}{}, "(none)"); err != nil {
		return nil, err
	}
	return updateCA{}, nil
}

const staleFactPrefix = "trust_store_stale:"

// staleScript prints "stale" when an anchor that regtrust wrote is newer
// than the store's bundle, or the bundle is missing while such anchors
// exist.
func staleScript(ts trustStore) string {
	return fmt.Sprintf(`for f in %s/regtrust-*.crt; do
  [ -e "$f" ] || continue
  if [ ! -e %s ] || [ "$f" -nt %s ]; then echo stale; break; fi
done`, shellQuote(ts.anchors), shellQuote(ts.bundle), shellQuote(ts.bundle))
}

func (updateCA) Probes(t *Target) []Probe {
	probes := []Probe{{Path: osReleasePath, Content: true}}
	for _, ts := range trustStores {
		probes = append(probes, Probe{Key: staleFactPrefix + ts.store.family, Script: staleScript(ts.store)})
	}
	return probes
}

func (updateCA) CheckApply(ctx context.Context, t *Target, apply bool) (Result, error) {
	ts, err := detectTrustStore(t)
	if err != nil {
		return Result{}, err
	}
	reason := ""
	switch {
	case t.anchorsChanged:
		reason = "a CA was added to " + ts.anchors
	case ts.family != "custom":
		out, err := t.Fact(staleFactPrefix + ts.family)
		if err != nil {
			return Result{}, err
		}
		if strings.TrimSpace(out) == "stale" {
			reason = "the trust store is older than a CA in " + ts.anchors
		}
	}
	if reason == "" {
		return Result{Message: "trust store up to date"}, nil
	}
	res := Result{Changed: true, Message: fmt.Sprintf("%s (%s)", ts.update, reason)}
	// The restart is recorded first, so that the journal that Exec writes
	// before the update command carries it.
	t.NeedRestart("the OS trust store changed, and dockerd reads it only at start")
	if apply {
		out, err := t.Exec(ctx, ts.update+"\n")
		if err != nil {
			return Result{}, fmt.Errorf("run %s: %w", ts.update, err)
		}
		if err := out.Err(); err != nil {
			return Result{}, fmt.Errorf("run %s: %w", ts.update, err)
		}
	}
	t.anchorsChanged = false
	return res, nil
}

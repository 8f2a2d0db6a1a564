// Package labtest starts a lab from a test and turns a machine that
// cannot run one into a skip, or into a failure where a skip must not
// pass.
package labtest

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/regtrust/regtrust/internal/lab"
)

// EnvVar is the environment variable that, set to "require", makes a
// test fail where it would otherwise skip for want of a lab. CI sets it
// so that it can never pass by skipping.
const EnvVar = "REGTRUST_E2E"

// startTimeout bounds Start. A lab of three hosts starts in a few
// seconds; dockerd's first start is the slow part on a loaded machine.
const startTimeout = 3 * time.Minute

// Require skips the test, or fails it when REGTRUST_E2E=require, if the
// machine cannot run a lab or the test runs with -short.
func Require(t testing.TB) {
	t.Helper()
	skip, fail := verdict(lab.Requirements(), os.Getenv(EnvVar), testing.Short())
	if fail != "" {
		t.Fatal(fail)
	}
	if skip != "" {
		t.Skip(skip)
	}
}

// verdict decides between running, skipping and failing. It returns at
// most one non-empty message.
func verdict(missing []string, env string, short bool) (skip, fail string) {
	var reason string
	switch {
	case len(missing) > 0:
		reason = "lab needs " + strings.Join(missing, "; ")
	case short:
		reason = "lab tests do not run with -short"
	default:
		return "", ""
	}
	if env == "require" {
		return "", reason + " (" + EnvVar + "=require turns this skip into a failure)"
	}
	return reason + " (set " + EnvVar + "=require to fail instead)", ""
}

// Start starts a lab for the test and closes it when the test ends.
// It calls Require first. Lab progress goes to the test log.
func Start(t testing.TB, opts lab.Options) *lab.Lab {
	t.Helper()
	Require(t)
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	}
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	l, err := lab.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start lab: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("close lab: %v", err)
		}
	})
	return l
}

// testWriter sends each write to the test log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

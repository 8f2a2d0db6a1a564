package labtest

import (
	"strings"
	"testing"
)

func TestVerdict(t *testing.T) {
	tests := []struct {
		name     string
		missing  []string
		env      string
		short    bool
		wantSkip string // substring; empty means no skip
		wantFail string // substring; empty means no failure
	}{
		{name: "all-present", env: "", wantSkip: "", wantFail: ""},
		{name: "all-present-required", env: "require"},
		{name: "missing-skips", missing: []string{"program dockerd"}, wantSkip: "program dockerd"},
		{name: "missing-required-fails", missing: []string{"root (running as uid 1000)"}, env: "require", wantFail: "root (running as uid 1000)"},
		{name: "short-skips", short: true, wantSkip: "-short"},
		{name: "short-required-fails", short: true, env: "require", wantFail: "-short"},
		{name: "other-env-value-skips", missing: []string{"program ip"}, env: "1", wantSkip: "program ip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			skip, fail := verdict(tt.missing, tt.env, tt.short)
			if (skip == "") != (tt.wantSkip == "") || !strings.Contains(skip, tt.wantSkip) {
				t.Errorf("skip = %q; want a message containing %q", skip, tt.wantSkip)
			}
			if (fail == "") != (tt.wantFail == "") || !strings.Contains(fail, tt.wantFail) {
				t.Errorf("fail = %q; want a message containing %q", fail, tt.wantFail)
			}
		})
	}
}

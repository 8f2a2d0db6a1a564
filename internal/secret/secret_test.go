package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestValueNeverShowsText(t *testing.T) {
	const text = "hunter2"
	v := New(text)
	holder := struct{ Password Value }{v}
	jsonBytes, err := json.Marshal(holder)
	if err != nil {
		t.Fatalf("json.Marshal error = %v; want nil", err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("login", "password", v)

	outputs := map[string]string{
		"%v":       fmt.Sprintf("%v", v),
		"%s":       fmt.Sprintf("%s", v),
		"%q":       fmt.Sprintf("%q", v),
		"%x":       fmt.Sprintf("%x", v),
		"%#v":      fmt.Sprintf("%#v", v),
		"%+v":      fmt.Sprintf("%+v", holder),
		"%#v wrap": fmt.Sprintf("%#v", holder),
		"json":     string(jsonBytes),
		"slog":     logs.String(),
	}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			if strings.Contains(out, text) {
				t.Errorf("output = %q; want no secret text in it", out)
			}
			if !strings.Contains(out, Redacted) {
				t.Errorf("output = %q; want %q in it", out, Redacted)
			}
		})
	}
	if got := v.Reveal(); got != text {
		t.Errorf("Reveal() = %q; want %q", got, text)
	}
}

func TestValueIsSet(t *testing.T) {
	tests := []struct {
		name string
		v    Value
		want bool
	}{
		{name: "zero", v: Value{}, want: false},
		{name: "empty", v: New(""), want: false},
		{name: "text", v: New("x"), want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.IsSet(); got != tt.want {
				t.Errorf("IsSet() = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestValueInsideStructNotPrinted(t *testing.T) {
	type holder struct {
		name     string
		password Value
	}
	h := holder{name: "ci", password: New("hunter2-very-secret")}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(verb, h); strings.Contains(got, "hunter2") {
			t.Errorf("Sprintf(%s) of a struct = %q; want no secret text", verb, got)
		}
		if got := fmt.Sprintf(verb, &h); strings.Contains(got, "hunter2") {
			t.Errorf("Sprintf(%s) of a pointer = %q; want no secret text", verb, got)
		}
	}
}

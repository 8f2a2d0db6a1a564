package inventory

import "testing"

func TestStringVar(t *testing.T) {
	h := &Host{Name: "web-1", Vars: map[string]any{
		"s": "text", "i": 2222, "f": 1.5, "big": uint64(1 << 63), "b": true, "null": nil,
		"list": []any{"a"}, "map": map[string]any{"k": "v"},
	}}
	tests := []struct {
		name    string
		want    string
		wantSet bool
		wantErr string
	}{
		{name: "s", want: "text", wantSet: true},
		{name: "i", want: "2222", wantSet: true},
		{name: "f", want: "1.5", wantSet: true},
		{name: "big", want: "9223372036854775808", wantSet: true},
		{name: "b", want: "true", wantSet: true},
		{name: "null", want: "", wantSet: true},
		{name: "missing", want: "", wantSet: false},
		{name: "list", wantSet: true, wantErr: "host web-1: invalid list: got a list, want a string"},
		{name: "map", wantSet: true, wantErr: "host web-1: invalid map: got a mapping, want a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, set, err := h.StringVar(tt.name)
			if set != tt.wantSet {
				t.Errorf("StringVar(%q) set = %v; want %v", tt.name, set, tt.wantSet)
			}
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("StringVar(%q) error = %v; want %q", tt.name, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("StringVar(%q) error = %v; want none", tt.name, err)
			}
			if got != tt.want {
				t.Errorf("StringVar(%q) = %q; want %q", tt.name, got, tt.want)
			}
		})
	}
}

func TestBoolVar(t *testing.T) {
	tests := []struct {
		name    string
		value   any
		want    bool
		wantErr string
	}{
		{name: "bool-true", value: true, want: true},
		{name: "bool-false", value: false, want: false},
		{name: "yes", value: "yes", want: true},
		{name: "YES", value: "YES", want: true},
		{name: "on", value: "on", want: true},
		{name: "y", value: "y", want: true},
		{name: "t", value: "t", want: true},
		{name: "true-padded", value: " True ", want: true},
		{name: "string-1", value: "1", want: true},
		{name: "no", value: "no", want: false},
		{name: "off", value: "Off", want: false},
		{name: "n", value: "n", want: false},
		{name: "f", value: "f", want: false},
		{name: "string-0", value: "0", want: false},
		{name: "int-1", value: 1, want: true},
		{name: "int-0", value: 0, want: false},
		{name: "float-1", value: 1.0, want: true},
		{name: "float-0", value: 0.0, want: false},
		{name: "word", value: "maybe", wantErr: `host web-1: invalid v: "maybe" is not a boolean: use true or false`},
		{name: "empty", value: "", wantErr: `host web-1: invalid v: "" is not a boolean: use true or false`},
		{name: "int-2", value: 2, wantErr: `host web-1: invalid v: 2 is not a boolean: use true or false`},
		{name: "null", value: nil, wantErr: `host web-1: invalid v: null is not a boolean: use true or false`},
		{name: "list", value: []any{true}, wantErr: `host web-1: invalid v: a list is not a boolean: use true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Host{Name: "web-1", Vars: map[string]any{"v": tt.value}}
			got, set, err := h.BoolVar("v")
			if !set {
				t.Errorf("BoolVar set = false; want true")
			}
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Errorf("BoolVar(%#v) error = %v; want %q", tt.value, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("BoolVar(%#v) error = %v; want none", tt.value, err)
			}
			if got != tt.want {
				t.Errorf("BoolVar(%#v) = %v; want %v", tt.value, got, tt.want)
			}
		})
	}
}

func TestBoolVarMissing(t *testing.T) {
	h := &Host{Name: "web-1", Vars: map[string]any{}}
	got, set, err := h.BoolVar("ansible_become")
	if got || set || err != nil {
		t.Errorf("BoolVar(missing) = %v, %v, %v; want false, false, nil", got, set, err)
	}
}

func TestVar(t *testing.T) {
	h := &Host{Name: "web-1", Vars: map[string]any{"null": nil, "port": 22}}
	tests := []struct {
		name    string
		want    any
		wantSet bool
	}{
		{"port", 22, true},
		{"null", nil, true},
		{"missing", nil, false},
	}
	for _, tt := range tests {
		got, set := h.Var(tt.name)
		if got != tt.want || set != tt.wantSet {
			t.Errorf("Var(%q) = %#v, %v; want %#v, %v", tt.name, got, set, tt.want, tt.wantSet)
		}
	}
}

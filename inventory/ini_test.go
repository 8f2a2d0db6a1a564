package inventory

import (
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseINIValue(t *testing.T) {
	tests := []struct {
		name string
		text string
		want any
	}{
		{"int", "22", 22},
		{"negative-int", "-5", -5},
		{"sign-space", "- 5", -5},
		{"plus", "+7", 7},
		{"underscores", "1_000", 1000},
		{"hex", "0x1F", 31},
		{"octal", "0o17", 15},
		{"binary", "0b101", 5},
		{"zeros", "000", 0},
		{"leading-zero-is-text", "007", "007"},
		{"float", "1.5", 1.5},
		{"float-no-int-part", ".5", 0.5},
		{"float-no-fraction", "5.", 5.0},
		{"exponent", "1e3", 1000.0},
		{"negative-float", "-2.5e-1", -0.25},
		{"huge-float", "1e400", math.Inf(1)},
		{"int-overflow-is-text", "9223372036854775808", "9223372036854775808"},
		{"complex-is-text", "3j", "3j"},
		{"python-true", "True", true},
		{"python-false", "False", false},
		{"none", "None", nil},
		{"lowercase-true-is-text", "true", "true"},
		{"yes-is-text", "yes", "yes"},
		{"word", "deploy", "deploy"},
		{"ip-address", "10.0.0.11", "10.0.0.11"},
		{"path", "~/.ssh/id_ed25519", "~/.ssh/id_ed25519"},
		{"empty", "", ""},
		{"single-quoted", "'a b'", "a b"},
		{"double-quoted", `"x\ty"`, "x\ty"},
		{"quoted-number", "'42'", "42"},
		{"hex-escape", `'\x41'`, "A"},
		{"unicode-escape", `'\u00e9'`, "é"},
		{"octal-escape", `'\101'`, "A"},
		{"unknown-escape-kept", `'\d'`, `\d`},
		{"raw-string", `r'\d+'`, `\d+`},
		{"raw-escaped-quote", `r'a\'b'`, `a\'b`},
		{"bytes-prefix", "b'abc'", "abc"},
		{"triple-quoted", `'''it's'''`, "it's"},
		{"adjacent-strings", `'a' "b"`, "ab"},
		{"f-string-is-text", "f'x'", "f'x'"},
		{"named-escape-is-text", `'\N{BULLET}'`, `'\N{BULLET}'`},
		{"unterminated-is-text", "'abc", "'abc"},
		{"list", "['a', 2]", []any{"a", 2}},
		{"list-trailing-comma", "[1, 2,]", []any{1, 2}},
		{"empty-list", "[]", []any{}},
		{"nested-list", "[[1], []]", []any{[]any{1}, []any{}}},
		{"tuple", "(1, 'x')", []any{1, "x"}},
		{"one-tuple", "(1,)", []any{1}},
		{"parenthesised", "(1)", 1},
		{"parenthesised-string-with-comma", "('a,b')", "a,b"},
		{"empty-tuple", "()", []any{}},
		{"dict", "{'k': 1, 'n': None}", map[string]any{"k": 1, "n": nil}},
		{"dict-int-key", "{1: 'a'}", map[string]any{"1": "a"}},
		{"dict-trailing-comma", "{'a': 1,}", map[string]any{"a": 1}},
		{"empty-dict", "{}", map[string]any{}},
		{"dict-missing-comma-is-text", "{'a': 1 'b': 2}", "{'a': 1 'b': 2}"},
		{"set", "{1, 2, 1}", []any{1, 2}},
		{"list-as-dict-key-is-text", "{[1]: 2}", "{[1]: 2}"},
		{"comment-after-literal", "8080 # web port", 8080},
		{"comment-after-word-kept", "bar # note", "bar # note"},
		{"leading-space", "  42", 42},
		{"trailing-garbage", "1 2", "1 2"},
		{"identifier-after-number", "12abc", "12abc"},
		{"jinja", "{{ inventory_hostname }}", "{{ inventory_hostname }}"},
		{"too-deep", strings.Repeat("[", 101) + strings.Repeat("]", 101), strings.Repeat("[", 101) + strings.Repeat("]", 101)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseINIValue(tt.text)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseINIValue(%q) = %#v; want %#v", tt.text, got, tt.want)
			}
		})
	}
}

func TestParseINIValueMaxDepth(t *testing.T) {
	text := strings.Repeat("[", maxLiteralDepth) + strings.Repeat("]", maxLiteralDepth)
	got := parseINIValue(text)
	if _, ok := got.([]any); !ok {
		t.Errorf("parseINIValue(%d nested lists) = %T; want []any", maxLiteralDepth, got)
	}
}

func TestShellSplit(t *testing.T) {
	tests := []struct {
		name string
		line string
		want []string
	}{
		{"words", "web-1 a=1  b=2", []string{"web-1", "a=1", "b=2"}},
		{"leading-space", "  web-1", []string{"web-1"}},
		{"double-quotes", `web-1 motd="hello world"`, []string{"web-1", "motd=hello world"}},
		{"single-quotes", `web-1 x='a "b"'`, []string{"web-1", `x=a "b"`}},
		{"nested-quotes", `web-1 pw="'03#pa33'"`, []string{"web-1", "pw='03#pa33'"}},
		{"escaped-quote-in-double", `x="a\"b"`, []string{`x=a"b`}},
		{"backslash-kept-in-double", `x="a\nb"`, []string{`x=a\nb`}},
		{"backslash-outside-quotes", `x=a\ b`, []string{"x=a b"}},
		{"comment", "web-1 a=1 # note", []string{"web-1", "a=1"}},
		{"comment-inside-word", "web-1 pw=abc#123", []string{"web-1", "pw=abc"}},
		{"hash-in-quotes", `web-1 pw="abc#123"`, []string{"web-1", "pw=abc#123"}},
		{"empty-quoted", `web-1 x=""`, []string{"web-1", "x="}},
		{"only-comment", "   # nothing", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokens, err := shellSplit(tt.line)
			if err != nil {
				t.Fatalf("shellSplit(%q) error = %v; want none", tt.line, err)
			}
			var got []string
			for _, tok := range tokens {
				got = append(got, tok.text)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("shellSplit(%q) = %q; want %q", tt.line, got, tt.want)
			}
		})
	}
}

func TestShellSplitErrors(t *testing.T) {
	tests := []struct {
		name string
		line string
		want string
	}{
		{"open-double", `x="abc`, `a " quote is not closed`},
		{"open-single", `x='abc`, `a ' quote is not closed`},
		{"trailing-backslash", `x=abc\`, "the line ends in a backslash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := shellSplit(tt.line)
			if err == nil || err.Error() != tt.want {
				t.Errorf("shellSplit(%q) error = %v; want %q", tt.line, err, tt.want)
			}
		})
	}
}

func TestINIHostLineValues(t *testing.T) {
	dir := writeFiles(t, map[string]string{"hosts": `[web]
web-1 port="2222" name="'2222'" words='two words' list="['a', 'b']" flag=True pw="'03#pa33'" empty=
`})
	inv := mustLoad(t, filepath.Join(dir, "hosts"))
	want := map[string]any{
		"port":  2222, // shlex removes the quotes before literal_eval, as in Ansible
		"name":  "2222",
		"words": "two words",
		"list":  []any{"a", "b"},
		"flag":  true,
		"pw":    "03#pa33",
		"empty": "",
	}
	if got := mustHost(t, inv, "web-1").Vars; !reflect.DeepEqual(got, want) {
		t.Errorf("Vars = %#v; want %#v", got, want)
	}
}

func TestINIChildrenDeclaredLater(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"a.ini": "[docker:children]\nrack1 # declared below\n\n[rack1:vars]\nrole=worker\n\n[rack1]\nnode1\n",
		"b.ini": "[late:children]\nrack1\n\n[rack1:vars]\nzone=b\n",
	})
	inv := mustLoad(t, filepath.Join(dir, "a.ini"), filepath.Join(dir, "b.ini"))
	h := mustHost(t, inv, "node1")
	if want := []string{"docker", "late", "rack1"}; !reflect.DeepEqual(h.Groups, want) {
		t.Errorf("Groups = %q; want %q", h.Groups, want)
	}
	if got, _ := h.Var("role"); got != "worker" {
		t.Errorf("role = %#v; want worker", got)
	}
	if got, _ := h.Var("zone"); got != "b" {
		t.Errorf("zone = %#v; want b, because an earlier file declared rack1", got)
	}
}

func TestINIErrorHidesValues(t *testing.T) {
	dir := writeFiles(t, map[string]string{"hosts": "web-1 ansible_password=s3cret word2\n"})
	_, err := Load(filepath.Join(dir, "hosts"))
	if err == nil {
		t.Fatal("Load = no error; want an error for the word without '='")
	}
	for _, secret := range []string{"s3cret", "word2"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q contains %q from the line; want no values", err, secret)
		}
	}
}

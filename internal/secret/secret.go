// Package secret holds passwords and passphrases so that printing,
// logging or encoding one by mistake shows a placeholder instead of the
// value.
package secret

import (
	"fmt"
	"log/slog"
)

// Redacted is what every formatting and encoding method of Value writes.
const Redacted = "[redacted]"

// Value is a secret string. Its zero value is empty. Only Reveal
// returns the text; fmt verbs, slog, encoding/json and encoding.TextMarshaler
// users all see Redacted. The text is kept in a closure, because fmt
// prints a struct that contains a Value field by reflection, without
// calling the Value's methods, and a closure then prints as an address.
type Value struct {
	text func() string
}

// New returns a Value that holds text.
func New(text string) Value { return Value{text: func() string { return text }} }

// Reveal returns the secret text. Call it only where the text is sent to
// the program that needs it.
func (v Value) Reveal() string {
	if v.text == nil {
		return ""
	}
	return v.text()
}

// IsSet reports whether the secret is not empty.
func (v Value) IsSet() bool { return v.Reveal() != "" }

// String returns Redacted.
func (v Value) String() string { return Redacted }

// GoString returns Redacted, for the %#v verb.
func (v Value) GoString() string { return Redacted }

// Format writes Redacted for every verb, so that %x or %q cannot show
// the text either.
func (v Value) Format(f fmt.State, verb rune) { fmt.Fprint(f, Redacted) }

// LogValue returns Redacted for log/slog.
func (v Value) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalText returns Redacted, which encoding/json and YAML encoders use.
func (v Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

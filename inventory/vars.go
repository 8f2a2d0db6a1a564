package inventory

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Var returns a variable of the host and whether it is set.
func (h *Host) Var(name string) (any, bool) {
	v, ok := h.Vars[name]
	return v, ok
}

// StringVar returns a variable as text and whether it is set. Numbers
// and booleans are formatted (2222, 1.5, true), and null is "". A list or
// mapping is an error.
func (h *Host) StringVar(name string) (string, bool, error) {
	v, ok := h.Vars[name]
	if !ok {
		return "", false, nil
	}
	s, scalar := scalarString(v)
	if !scalar {
		return "", true, fmt.Errorf("host %s: invalid %s: got %s, want a string", h.Name, name, typeName(v))
	}
	return s, true, nil
}

// BoolVar returns a variable as a boolean and whether it is set. It
// reads the value as Ansible's boolean conversion does: true, yes, on,
// y, t and 1 are true, and false, no, off, n, f and 0 are false, in any
// letter case, as booleans, numbers or strings. Anything else, null
// included, is an error.
func (h *Host) BoolVar(name string) (bool, bool, error) {
	v, ok := h.Vars[name]
	if !ok {
		return false, false, nil
	}
	b, err := boolValue(v)
	if err != nil {
		return false, true, fmt.Errorf("host %s: invalid %s: %w", h.Name, name, err)
	}
	return b, true, nil
}

func boolValue(v any) (bool, error) {
	switch b := v.(type) {
	case bool:
		return b, nil
	case int:
		if b == 0 || b == 1 {
			return b == 1, nil
		}
	case float64:
		if b == 0 || b == 1 {
			return b == 1, nil
		}
	case string:
		switch strings.ToLower(strings.TrimSpace(b)) {
		case "true", "yes", "on", "y", "t", "1":
			return true, nil
		case "false", "no", "off", "n", "f", "0":
			return false, nil
		}
	}
	return false, fmt.Errorf("%s is not a boolean: use true or false", describeValue(v))
}

// scalarString formats a string, number, boolean or null as text and
// reports false for lists and mappings.
func scalarString(v any) (string, bool) {
	switch s := v.(type) {
	case nil:
		return "", true
	case string:
		return s, true
	case bool:
		return strconv.FormatBool(s), true
	case int:
		return strconv.Itoa(s), true
	case int64:
		return strconv.FormatInt(s, 10), true
	case uint64:
		return strconv.FormatUint(s, 10), true
	case float64:
		return strconv.FormatFloat(s, 'g', -1, 64), true
	}
	return "", false
}

// intValue reads a whole number from an int, a float without a fraction
// or a string of digits.
func intValue(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case uint64:
		if n <= math.MaxInt {
			return int(n), true
		}
	case float64:
		if n == math.Trunc(n) && math.Abs(n) < 1<<53 {
			return int(n), true
		}
	case string:
		i, err := strconv.Atoi(strings.TrimSpace(n))
		return i, err == nil
	}
	return 0, false
}

// typeName names the type of a variable value for error messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int, int64, uint64, float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("a value of type %T", v)
}

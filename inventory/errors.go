package inventory

import "fmt"

// ParseError is a problem at a known place in an inventory or variables
// file.
type ParseError struct {
	File   string
	Line   int // 1-based, or 0 when the position is unknown
	Column int // 1-based, or 0 when only the line is known
	Msg    string
}

func (e *ParseError) Error() string {
	return position{file: e.File, line: e.Line, column: e.Column}.String() + ": " + e.Msg
}

// position is a place in a file, such as the declaration of a group,
// host or child link, for error messages.
type position struct {
	file   string
	line   int
	column int
}

func (p position) errorf(format string, args ...any) *ParseError {
	return &ParseError{
		File:   p.file,
		Line:   p.line,
		Column: p.column,
		Msg:    fmt.Sprintf(format, args...),
	}
}

func (p position) String() string {
	switch {
	case p.line > 0 && p.column > 0:
		return fmt.Sprintf("%s:%d:%d", p.file, p.line, p.column)
	case p.line > 0:
		return fmt.Sprintf("%s:%d", p.file, p.line)
	default:
		return p.file
	}
}

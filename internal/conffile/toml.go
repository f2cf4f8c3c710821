package conffile

import (
	"bytes"
	"fmt"
)

// MaxTOMLSize is the most a TOML configuration file may hold: 2 MiB. TOML costs far more to parse than to
// read: Telegraf's loader peaks at some 80 MiB of heap per MiB of a realistic plugin table (87 MiB for 1 MiB,
// 126 MiB for 2, 327 MiB for 4; 16 MiB would take over a gigabyte), influxdata/toml's parser alone at
// about 50 MiB per MiB. 2 MiB holds some 7,000 scrapers with their discoverers, where a full
// kapacitor.conf is some 30 KB.
const MaxTOMLSize = 2 << 20

// MaxNesting is how deep [ and { may nest in a TOML file: real files nest 2 or 3 deep (an array of inline
// tables in an array of tables). TOML's parsers recurse once per level, so 8 million levels overflow the
// goroutine's stack (a fatal error, which no recover catches), and Telegraf's loader takes a minute over
// 100,000 of them.
const MaxNesting = 100

// ReadTOML reads a TOML configuration file as Read does, within MaxTOMLSize, and refuses it, naming the
// line and byte, when its brackets nest deeper than MaxNesting.
func ReadTOML(path string, anyKind bool) ([]byte, error) {
	data, err := read(path, anyKind, MaxTOMLSize)
	if err != nil {
		return nil, err
	}
	if err := CheckTOML(path, data); err != nil {
		return nil, err
	}
	return data, nil
}

// CheckTOML refuses TOML text, from the file or source name, that is larger than MaxTOMLSize or whose
// brackets nest deeper than MaxNesting, before a parser sees it.
func CheckTOML(name string, data []byte) error {
	if len(data) > MaxTOMLSize {
		return tooLarge(name, MaxTOMLSize)
	}
	if offset, line := tooDeep(data); offset >= 0 {
		return fmt.Errorf("%s:%d: [ and { nest deeper than %d levels (at byte %d)", name, line, MaxNesting, offset)
	}
	return nil
}

// tooDeep returns the byte offset and line of the first [ or { that opens level MaxNesting + 1, or -1.
// It knows just enough TOML not to count brackets inside comments and strings (basic, literal and their
// multi-line forms); the parser reports whatever else is wrong.
func tooDeep(data []byte) (offset, line int) {
	depth := 0
	line = 1
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '\n':
			line++
		case '#':
			end := bytes.IndexByte(data[i:], '\n')
			if end < 0 {
				return -1, 0
			}
			i += end - 1 // the newline is counted by the next round
		case '"', '\'':
			end := stringEnd(data, i)
			line += bytes.Count(data[i:end], []byte{'\n'})
			i = end - 1
		case '[', '{':
			if depth++; depth > MaxNesting {
				return i, line
			}
		case ']', '}':
			if depth > 0 {
				depth--
			}
		}
	}
	return -1, 0
}

// stringEnd returns the offset just past the string that opens at data[start] (a " or '), or where an
// unterminated one gives up: the end of its line, or of the data for a multi-line string.
func stringEnd(data []byte, start int) int {
	q := data[start]
	triple := []byte{q, q, q}
	if bytes.HasPrefix(data[start:], triple) {
		for i := start + 3; i < len(data); i++ {
			switch {
			case q == '"' && data[i] == '\\':
				i++ // an escaped character, " or \ among them
			case bytes.HasPrefix(data[i:], triple):
				// In """a"""", the string ends at the fourth quote: the one left over opens a string that
				// ends with the line, which holds no more than a comment, so no bracket is missed.
				return i + 3
			}
		}
		return len(data)
	}
	for i := start + 1; i < len(data); i++ {
		switch {
		case q == '"' && data[i] == '\\':
			i++
		case data[i] == q:
			return i + 1
		case data[i] == '\n':
			return i
		}
	}
	return len(data)
}

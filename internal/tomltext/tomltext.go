// Package tomltext writes TOML keys and strings for the configuration files the migrations print: any text
// stays inside its quotes, whatever bytes it holds.
package tomltext

import (
	"fmt"
	"regexp"
	"strings"
)

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Key writes key bare when TOML allows it, else quoted: a key with a dot written bare would be read as a
// table and a key inside it.
func Key(key string) string {
	if bareKey.MatchString(key) {
		return key
	}
	return String(key)
}

// String quotes s as a TOML basic string.
func String(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

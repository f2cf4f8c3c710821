// Package safetext makes text that came from outside (a target's body, its HTTP reason phrase, an error
// that quotes either) fit for an error, a log line or a terminal: short, escaped, on one line. A target
// that serves a 50 MB line or an escape sequence must not get either into the logs.
package safetext

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Excerpt is how many bytes of a target's text an error quotes.
const Excerpt = 100

// MaxLogLine bounds a logged message, in bytes: far below the 64 KiB line that Telegraf's inputs.execd
// reads of a plugin's stderr.
const MaxLogLine = 4096

// Quote returns at most max bytes of b, Go-quoted, and says how long b was when it cut it:
// "abc"... (52428800 bytes).
func Quote(b []byte, max int) string {
	if len(b) <= max {
		return strconv.Quote(string(b))
	}
	return strconv.Quote(string(b[:cut(b, max)])) + "... (" + strconv.Itoa(len(b)) + " bytes)"
}

// QuoteString is Quote for a string.
func QuoteString(s string, max int) string {
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:cut(s, max)]) + "... (" + strconv.Itoa(len(s)) + " bytes)"
}

// QuoteExcerpt is QuoteString cut to Excerpt bytes: how an error quotes a name or value a target sent.
func QuoteExcerpt(s string) string { return QuoteString(s, Excerpt) }

// cut is the largest n <= max that does not split a UTF-8 sequence of s (max when s is not UTF-8 there).
func cut[T string | []byte](s T, max int) int {
	for n := max; n > 0 && n > max-utf8.UTFMax; n-- {
		if utf8.RuneStart(s[n]) {
			return n
		}
	}
	return max
}

// Line returns s on one line, at most about max bytes: every byte or character that is not printable
// (newlines, tabs, escape sequences, other control characters, invalid UTF-8, bidirectional overrides) is
// written as its Go escape, and what is past max is cut, with the length of s said. s comes back as it is,
// without allocating, when there is nothing to do.
func Line(s string, max int) string {
	if len(s) <= max && printable(s) {
		return s
	}
	var b strings.Builder
	b.Grow(min(len(s), max) + 32)
	for i := 0; i < len(s); {
		if b.Len() >= max {
			b.WriteString("... (")
			b.WriteString(strconv.Itoa(len(s)))
			b.WriteString(" bytes)")
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x`)
			b.WriteByte("0123456789abcdef"[s[i]>>4])
			b.WriteByte("0123456789abcdef"[s[i]&0xf])
		case !strconv.IsPrint(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// printable tells whether Line has nothing to escape in s.
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c == 0x7f || c >= utf8.RuneSelf {
			return printableUTF8(s[i:])
		}
	}
	return true
}

func printableUTF8(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			return false
		}
	}
	return true
}

// CapQuoted cuts every Go-quoted string in msg to about max bytes of what it quotes, as Quote does: the
// errors of Prometheus' parsers and of strconv quote what they read, a whole line or token of it.
func CapQuoted(msg string, max int) string {
	return ReplaceQuoted(msg, func(q string) (string, bool) {
		if len(q) <= max+2 { // what it quotes is not longer than max either
			return q, false
		}
		return capQuote(q, max)
	})
}

// ReplaceQuoted returns msg with each Go-quoted string q in it replaced by replace(q), where replace says
// so (true); msg itself when none is.
func ReplaceQuoted(msg string, replace func(q string) (string, bool)) string {
	var b strings.Builder
	done := 0
	for i := 0; i < len(msg); i++ {
		if msg[i] != '"' {
			continue
		}
		q, err := strconv.QuotedPrefix(msg[i:])
		if err != nil {
			continue
		}
		if r, ok := replace(q); ok {
			b.WriteString(msg[done:i])
			b.WriteString(r)
			done = i + len(q)
		}
		i += len(q) - 1
	}
	if done == 0 {
		return msg
	}
	b.WriteString(msg[done:])
	return b.String()
}

// capQuote shortens one quoted string to the first max bytes it stands for, re-quoted, and its length;
// cut is false when it stands for no more than max bytes.
func capQuote(q string, max int) (capped string, cut bool) {
	var text []byte
	s, n := q[1:len(q)-1], 0
	for len(s) > 0 {
		r, multibyte, tail, err := strconv.UnquoteChar(s, '"')
		if err != nil {
			break
		}
		size := 1
		if multibyte {
			size = utf8.RuneLen(r)
		}
		if n += size; n <= max {
			if multibyte {
				text = utf8.AppendRune(text, r)
			} else {
				text = append(text, byte(r))
			}
		}
		s = tail
	}
	if n <= max {
		return q, false
	}
	return strconv.Quote(string(text)) + "... (" + strconv.Itoa(n) + " bytes)", true
}

// Error is an error's text fit for a target's last error, a log line and -targets: the quoted parts cut
// to Excerpt bytes, the whole escaped and cut to max bytes.
func Error(err error, max int) string {
	return Line(CapQuoted(err.Error(), Excerpt), max)
}

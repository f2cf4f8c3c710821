package safetext

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestQuoteCutsLongTextAndSaysItsLength(t *testing.T) {
	require.Equal(t, `"short"`, Quote([]byte("short"), 10))
	require.Equal(t, `"aaaaaaaaaa"... (52428800 bytes)`, Quote([]byte(strings.Repeat("a", 50<<20)), 10))
	// A multi-byte character is not split: the cut moves back to its start.
	require.Equal(t, `"aaaaaaaa"... (14 bytes)`, QuoteString("aaaaaaaa€€", 10))
	// Bytes that are not UTF-8 are cut where they are, and escaped.
	require.Equal(t, `"\xff\xff\xff"... (6 bytes)`, QuoteString("\xff\xff\xff\xff\xff\xff", 3))
}

func TestLineEscapesWhatIsNotPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, \"quoted\" and ünïcödé": "plain text, \"quoted\" and ünïcödé",
		"two\nlines\r\n":                     `two\nlines\r\n`,
		"\x1b[31mred\x1b[0m":                 `\x1b[31mred\x1b[0m`,
		"tab\there":                          `tab\there`,
		"bad \xff byte":                      `bad \xff byte`,
		"C1 \u0085 and bidi \u202e override": `C1 \u0085 and bidi \u202e override`,
	} {
		t.Run(in, func(t *testing.T) {
			require.Equal(t, want, Line(in, 1000), "%q", in)
		})
	}
}

func TestLineCutsLongText(t *testing.T) {
	out := Line(strings.Repeat("x", 1<<20), 100)
	require.Equal(t, strings.Repeat("x", 100)+"... (1048576 bytes)", out)
	// Escapes count towards the length.
	out = Line(strings.Repeat("\n", 1000), 100)
	require.LessOrEqual(t, len(out), 100+len(`\n... (1000 bytes)`))
	require.NotContains(t, out, "\n")
}

func TestLineDoesNotCopyPlainText(t *testing.T) {
	s := "scrape failed target=http://localhost:9100/metrics"
	require.Zero(t, testing.AllocsPerRun(100, func() { _ = Line(s, 4096) }))
}

func TestCapQuotedCutsEveryQuotedString(t *testing.T) {
	long := strings.Repeat("a", 1<<20)
	// As textparse writes its errors.
	msg := fmt.Sprintf("expected value after metric, got %q (%q) while parsing: %q", "\n", "INVALID", long+"\x1b")
	out := CapQuoted(msg, 10)
	require.Equal(t, `expected value after metric, got "\n" ("INVALID") while parsing: "aaaaaaaaaa"... (1048577 bytes)`, out)

	// strconv's errors quote the token they could not read.
	_, err := strconv.ParseFloat(long, 64)
	require.Equal(t, `strconv.ParseFloat: parsing "aaaaaaaaaa"... (1048576 bytes): invalid syntax`, CapQuoted(err.Error(), 10))

	// Escapes in what is kept stay whole; an unterminated quote is left as it is.
	require.Equal(t, `"\x1b\n"... (4 bytes) and "unterminated`, CapQuoted(`"\x1b\nab" and "unterminated`, 2))
	require.Equal(t, "nothing quoted", CapQuoted("nothing quoted", 10))
}

func TestErrorIsOneShortLine(t *testing.T) {
	err := errors.New("parsing body: " + strconv.Quote(strings.Repeat("z", 1<<20)) + "\nsecond line \x1b")
	out := Error(err, 200)
	require.LessOrEqual(t, len(out), 200+len("... (12345678 bytes)"))
	require.Equal(t, `parsing body: "`+strings.Repeat("z", Excerpt)+`"... (1048576 bytes)\nsecond line \x1b`, out)
}

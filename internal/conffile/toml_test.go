package conffile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/toml"
	"github.com/stretchr/testify/require"
)

// nested is a TOML key whose array value nests depth levels deep.
func nested(depth int) string {
	return "a = " + strings.Repeat("[", depth) + strings.Repeat("]", depth) + "\n"
}

func TestCheckTOMLNesting(t *testing.T) {
	for _, c := range []struct {
		name, text string
		err        string // empty: accepted
	}{
		{"at the bound", nested(MaxNesting), ""},
		{"one past", nested(MaxNesting + 1), "f.conf:1: [ and { nest deeper than 100 levels (at byte 104)"},
		{"inline tables count", "x = 1\n" + "a = " + strings.Repeat("{b = [", 51), "f.conf:2: [ and { nest deeper than 100 levels (at byte 310)"},
		{"brackets in comments", "# " + strings.Repeat("[", 200) + "\n" + nested(3), ""},
		{"brackets in basic strings", `a = "` + strings.Repeat(`[\"`, 200) + `"` + "\n", ""},
		{"brackets in literal strings", "a = '" + strings.Repeat("[", 200) + "'\n", ""},
		{"brackets in multi-line strings", "a = \"\"\"\n" + strings.Repeat("{", 200) + "\\\"\"\"\"\"\"\nb = '''\n" + strings.Repeat("[", 200) + "''''\n", ""},
		{"lines inside strings count", "a = \"\"\"\n\n\"\"\"\nb = '''\n'''\n" + nested(MaxNesting+1), "f.conf:6: [ and { nest deeper than 100 levels (at byte 129)"},
		{"a quote in a comment opens no string", "# it's\n" + nested(MaxNesting+1), "f.conf:2: [ and { nest deeper than 100 levels (at byte 111)"},
		{"an unterminated string ends at its line", "a = \"[\n" + nested(MaxNesting+1), "f.conf:2: [ and { nest deeper than 100 levels (at byte 111)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckTOML("f.conf", []byte(c.text))
			if c.err == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, c.err)
		})
	}
}

// Nesting that overflows the parser's stack (8 million levels) or takes it a minute (100,000) is refused
// at once. Without the check, toml.Parse of the deep one is a fatal error no test can recover from.
func TestCheckTOMLDeep(t *testing.T) {
	for _, depth := range []int{100_000, 8_000_000} {
		t.Run(fmt.Sprint(depth), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "deep.conf")
			require.NoError(t, os.WriteFile(path, []byte("[[inputs.x]]\n"+nested(depth)), 0o644))
			start := time.Now()
			_, err := ReadTOML(path, false)
			if depth*2 > MaxTOMLSize {
				require.EqualError(t, err, path+": larger than 2 MiB, the most a TOML configuration file may hold")
			} else {
				require.EqualError(t, err, path+":2: [ and { nest deeper than 100 levels (at byte 117)")
			}
			require.Less(t, time.Since(start), 2*time.Second)
			// Under the size bound, the nesting is what is refused.
			data := []byte("[[inputs.x]]\n" + nested(depth))
			data = data[:min(len(data), MaxTOMLSize)]
			require.EqualError(t, CheckTOML("deep.conf", data), "deep.conf:2: [ and { nest deeper than 100 levels (at byte 117)")
		})
	}
}

func TestReadTOML(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok.conf")
	text := "[[inputs.x]]\n  a = [[1, 2], [{b = \"]\"}]] # ]]\n"
	require.NoError(t, os.WriteFile(ok, []byte(text), 0o644))
	data, err := ReadTOML(ok, false)
	require.NoError(t, err)
	require.Equal(t, text, string(data))
	_, err = toml.Parse(data)
	require.NoError(t, err)

	big := filepath.Join(dir, "big.conf")
	require.NoError(t, os.WriteFile(big, []byte(strings.Repeat("# padding\n", MaxTOMLSize/10+1)), 0o644))
	_, err = ReadTOML(big, false)
	require.EqualError(t, err, big+": larger than 2 MiB, the most a TOML configuration file may hold")

	// A device read where any kind of file is taken stops at the TOML bound.
	_, err = ReadTOML("/dev/zero", true)
	require.EqualError(t, err, "/dev/zero: larger than 2 MiB, the most a TOML configuration file may hold")
}

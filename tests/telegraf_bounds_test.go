package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Compiled into Telegraf, the plugin reads kapacitor_config itself: a file nested deep enough to overflow
// the TOML parser's stack (a fatal error that no recover catches, taking every other input with it) or to
// hold it for a minute is refused by the plugin's Init, with the file and line, and Telegraf exits with
// that error instead of a crash.
func TestTelegrafRefusesADeepKapacitorConfig(t *testing.T) {
	dir := t.TempDir()
	kapacitorConf := filepath.Join(dir, "kapacitor.conf")
	depth := 100_000
	deep := "[[scraper]]\n  name = \"deep\"\n  blacklist = " + strings.Repeat("[", depth) + strings.Repeat("]", depth) + "\n"
	require.NoError(t, os.WriteFile(kapacitorConf, []byte(deep), 0o644))
	conf := filepath.Join(dir, "telegraf.conf")
	require.NoError(t, os.WriteFile(conf, []byte(agentConf+`
[[inputs.discovering_prometheus]]
  kapacitor_config = "`+kapacitorConf+`"

[[outputs.discard]]
`), 0o644))

	TelegrafBinary(t) // built before the clock starts
	start := time.Now()
	out, err := exec.Command(TelegrafBinary(t), "--config", conf, "--once").CombinedOutput()
	require.Error(t, err, "%s", out)
	require.Less(t, time.Since(start), 30*time.Second, "a configuration error ends Telegraf promptly")
	require.Contains(t, string(out), "kapacitor.conf:3: [ and { nest deeper than 100 levels")
	require.NotContains(t, string(out), "goroutine ", "an error, not a crash")
}

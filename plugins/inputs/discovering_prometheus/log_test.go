package discovering_prometheus

import (
	"strings"
	"testing"

	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
)

// A record of the scrape or discovery packages reaches Telegraf's log as one line of bounded length, with
// what it carries of a target or a discoverer's API (line breaks, escape sequences) escaped.
func TestSlogRecordsAreOneShortLine(t *testing.T) {
	log := &testutil.CaptureLogger{}
	logger := newSlogLogger(log).With("scraper", "a")
	logger.Warn("scrape failed", "target", "http://t/metrics", "err", "bad\nbody \x1b[2J"+strings.Repeat("x", 10000))
	msgs := log.Messages()
	require.Len(t, msgs, 1)
	require.Equal(t, byte(testutil.LevelWarn), msgs[0].Level)
	require.True(t, strings.HasPrefix(msgs[0].Text, `scraper=a: scrape failed target=http://t/metrics err=bad\nbody \x1b[2Jxxx`), msgs[0].Text)
	require.True(t, strings.HasSuffix(msgs[0].Text, "... (10066 bytes)"), msgs[0].Text)
	require.LessOrEqual(t, len(msgs[0].Text), MaxLogLine+len("... (10066 bytes)"))
}

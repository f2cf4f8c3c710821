package discovering_prometheus

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
	"testing"
	"time"

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

// A record of client-go that belongs to no failing kubernetes discoverer goes through Go's standard logger
// (Telegraf's and the runner's log) as one line that starts with its level, as Telegraf's logger and
// inputs.execd read it.
func TestKubernetesClientLogIsOneLineAtItsLevel(t *testing.T) {
	var buf bytes.Buffer
	prevOut, prevFlags := log.Writer(), log.Flags()
	log.SetOutput(&buf)
	log.SetFlags(0)
	defer func() { log.SetOutput(prevOut); log.SetFlags(prevFlags) }()

	rec := slog.NewRecord(time.Now(), slog.LevelWarn, "Use tokens from the TokenRequest API\nor manually created", 0)
	rec.AddAttrs(slog.String("reason", "deprecated"))
	require.NoError(t, kubernetesClientLog{}.Handle(context.Background(), rec))
	require.Equal(t, `W! [inputs.discovering_prometheus] kubernetes client: Use tokens from the TokenRequest API\nor manually created reason=deprecated`+"\n", buf.String())
}

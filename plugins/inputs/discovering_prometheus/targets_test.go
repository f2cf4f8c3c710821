package discovering_prometheus

import (
	"strings"
	"testing"

	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
)

// A target's URL is masked by one policy wherever it is shown (httpconfig.RedactURL, whose test pins it):
// the /targets page and the log name a target whose __address__ holds a password alike, without it. Such
// an address makes a scrape URL that does not parse, which the page once showed as "(invalid URL)".
func TestTargetURLIsMaskedAlikeOnThePageAndInTheLog(t *testing.T) {
	p := mustLoad(t, strings.Replace(scraperConf("", ""), "localhost:9100", "user:s3cret@127.0.0.1:1", 1))
	log := &testutil.CaptureLogger{}
	p.Log = log
	require.NoError(t, p.Init())
	require.NoError(t, p.Start(&testutil.Accumulator{}))
	defer p.Stop()
	require.NoError(t, p.Gather(&testutil.Accumulator{}))

	active := p.Targets().Active
	require.Len(t, active, 1)
	const masked = "http://user:xxxxx%40127.0.0.1:1/metrics"
	require.Equal(t, masked, active[0].ScrapeURL)
	require.NotContains(t, active[0].LastError, "s3cret")
	logged := false
	for _, m := range log.Messages() {
		require.NotContains(t, m.Text, "s3cret")
		logged = logged || strings.Contains(m.Text, masked)
	}
	require.True(t, logged, "the failed scrape is logged under the page's URL: %v", log.Messages())
}

package discovering_prometheus

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
)

// A relabel rule's separator, set in the TOML table, joins its source labels: a keep rule on two labels
// joined by "/" keeps exactly the target it names, a replace rule writes the joined value, and a metric
// keep rule on two labels keeps exactly the series it names. With ";" (the default) none would match.
func TestRelabelSeparatorFromTOML(t *testing.T) {
	var hits [2]atomic.Int32
	var addrs [2]string
	for i := range addrs {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			hits[i].Add(1)
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			fmt.Fprint(w, "m{code=\"200\"} 1\nm{code=\"500\"} 2\nother{code=\"200\"} 3\n")
		}))
		t.Cleanup(srv.Close)
		addrs[i] = strings.TrimPrefix(srv.URL, "http://")
	}
	rules := fmt.Sprintf(`
  [[inputs.discovering_prometheus.scraper.relabel-configs]]
    source-labels = ["__scheme__", "__address__"]
    separator = "/"
    regex = '%s'
    action = "keep"
  [[inputs.discovering_prometheus.scraper.relabel-configs]]
    source-labels = ["__scheme__", "__metrics_path__"]
    separator = "/"
    target-label = "joined"
  [[inputs.discovering_prometheus.scraper.metric-relabel-configs]]
    source-labels = ["__name__", "code"]
    separator = "/"
    regex = "m/200"
    action = "keep"`, "http/"+regexp.QuoteMeta(addrs[0]))
	conf := strings.Replace(scraperConf(rules, ""), `"localhost:9100"`, fmt.Sprintf("%q, %q", addrs[0], addrs[1]), 1)
	for loader, p := range map[string]*DiscoveringPrometheus{"telegraf": mustLoad(t, conf), "shim": loadShim(t, conf)} {
		t.Run(loader, func(t *testing.T) {
			hits[0].Store(0)
			hits[1].Store(0)
			require.NoError(t, p.Init())
			acc := &testutil.Accumulator{}
			require.NoError(t, p.Start(acc))
			defer p.Stop()
			require.NoError(t, p.Gather(acc))

			require.EqualValues(t, 1, hits[0].Load(), "the target the keep rule names is scraped")
			require.EqualValues(t, 0, hits[1].Load(), "the other target is not")
			var kept []string
			for _, m := range acc.GetTelegrafMetrics() {
				require.Equal(t, addrs[0], m.Tags()["instance"], "%v", m)
				require.Equal(t, "http//metrics", m.Tags()["joined"], "scheme and metrics path joined by the separator: %v", m)
				if m.Name() == "m" || m.Name() == "other" {
					kept = append(kept, m.Name()+" code="+m.Tags()["code"])
				}
			}
			require.Equal(t, []string{"m code=200"}, kept, "the metric keep rule keeps the series it names, only")
		})
	}
}

package scrape

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// With extra-scrape-metrics, Prometheus 3's extra series follow the four, and with a series-limit
// vmagent's: the limit, the window's series and the scrape's samples the limit dropped. The body's size is
// the inflated one; over body-size-limit it is -1.
func TestExtraScrapeMetrics(t *testing.T) {
	body := "a 1\nb 2\nc 3\nd 4\ne 5\n"
	for _, tc := range []struct {
		name    string
		gzipped bool
		change  func(c *Config)
		want    map[string]float64
	}{
		{"off", false, func(c *Config) { c.ExtraScrapeMetrics = false }, nil},
		{"prometheus'", false, func(c *Config) { c.SampleLimit = 100 },
			map[string]float64{"scrape_timeout_seconds": 10, "scrape_sample_limit": 100, "scrape_body_size_bytes": float64(len(body))}},
		{"gzipped", true, func(*Config) {},
			map[string]float64{"scrape_timeout_seconds": 10, "scrape_sample_limit": 0, "scrape_body_size_bytes": float64(len(body))}},
		{"over body-size-limit", false, func(c *Config) { c.BodySizeLimit = 4 },
			map[string]float64{"scrape_timeout_seconds": 10, "scrape_sample_limit": 0, "scrape_body_size_bytes": -1}},
		{"series-limit", false, func(c *Config) { c.SeriesLimit = 3 },
			map[string]float64{"scrape_timeout_seconds": 10, "scrape_sample_limit": 0, "scrape_body_size_bytes": float64(len(body)),
				"scrape_series_limit": 3, "scrape_series_current": 3, "scrape_series_limit_samples_dropped": 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := serve(t, "text/plain; version=0.0.4", []byte(body), tc.gzipped)
			c := valid()
			c.ExtraScrapeMetrics = true
			tc.change(c)
			r := scrapeOnce(t, newScraper(t, c, strings.TrimPrefix(srv.URL, "http://")))
			got := map[string]float64{}
			for _, name := range r.synthetic[4:] {
				got[name] = valueOf(t, r, name)
			}
			if tc.want == nil {
				require.Len(t, r.synthetic, 4)
				return
			}
			require.Equal(t, tc.want, got)
		})
	}
}

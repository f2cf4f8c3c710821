package scrape

import (
	"io"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
	"github.com/stretchr/testify/require"
)

// The allocation-free label reading must give exactly what textparse's Labels() gives.
func TestSeriesLabelsMatchTextparse(t *testing.T) {
	for _, tc := range []struct{ name, contentType, body string }{
		{"text exposition", "text/plain", textBody},
		{"text escapes, spacing, buckets, quantiles, UTF-8", "text/plain", `# TYPE esc gauge
esc{path="C:\\dir\\",quote="say \"hi\"",nl="a\nb",tab="a\tb",empty="",z="1",a="2"} 1
esc{ spaced = "v" , other="x",} 2
# TYPE h histogram
h_bucket{le="1"} 1
h_bucket{le="1e3"} 2
h_bucket{le="+Inf"} 3
h_bucket{le="0.25"} 3
h_count 3
# TYPE s summary
s{quantile="0"} 1
s{quantile="1"} 1
utf8{v="żółw 🐢"} 1
no_labels 5
`},
		{"OpenMetrics exemplar, created, histogram", "application/openmetrics-text; version=1.0.0", `# TYPE om counter
om_total{a="1",b="x\"y"} 1 # {trace="t"} 1 1.5
om_created{a="1",b="x\"y"} 1
# TYPE oh histogram
oh_bucket{le="10"} 1
oh_bucket{le="+Inf"} 1
oh_count 1
oh_sum 1
# EOF
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := textparse.New([]byte(tc.body), tc.contentType, labels.NewSymbolTable(), textparse.ParserOptions{})
			require.NoError(t, err)
			var family model.MetricType
			var ls []labels.Label
			var buf []byte
			n := 0
			for {
				e, err := p.Next()
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
				switch e {
				case textparse.EntryType:
					_, family = p.Type()
				case textparse.EntrySeries:
					series, _, _ := p.Series()
					var want labels.Labels
					p.Labels(&want)
					require.True(t, seriesLabels(series, family, &ls, &buf), "%s", series)
					require.Equal(t, want.String(), Labels(ls).String(), "%s", series)
					n++
				}
			}
			require.Positive(t, n)
		})
	}
	var ls []labels.Label
	var buf []byte
	require.False(t, seriesLabels([]byte(`{"utf8.name",a="b"}`), model.MetricTypeUnknown, &ls, &buf), "quoted names are left to Labels()")
}

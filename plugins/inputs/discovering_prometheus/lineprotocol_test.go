package discovering_prometheus

import (
	"bytes"
	"math"
	"slices"
	"testing"

	"github.com/influxdata/telegraf/plugins/serializers/influx"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// The direct line protocol is byte for byte what Telegraf's serializer writes for the kapacitor metric.
func TestLineSinkMatchesSerializer(t *testing.T) {
	serializer := &influx.Serializer{}
	require.NoError(t, serializer.Init())
	routes := []*routing{
		{dbTag: "db", db: "prometheus", rpTag: "rp", rp: "autogen"},
		{dbTag: "zz_db", db: "my db", rpTag: "a_rp", rp: "r=p,1"},
	}
	samples := []scrape.Sample{
		{Labels: sampleLabels("__name__", "up", "instance", "h:1", "job", "node"), Value: 1, Timestamp: 1700000000123},
		{Labels: sampleLabels("__name__", "m with space", "a", "x,y=z", "b", "tab\there", "c", "", "d", `ends\`, "e", "new\nline", "f", `\`), Value: -0.000001234, Timestamp: 1},
		{Labels: sampleLabels("__name__", "routing_label", "db", "from-target", "rp", "x", "zz", "last"), Value: 1e21, Timestamp: 2},
		{Labels: sampleLabels("__name__", "big", "le", "+Inf"), Value: 123456789.125, Timestamp: 3},
		{Labels: sampleLabels("__name__", "nan"), Value: math.NaN(), Timestamp: 4},
		{Labels: sampleLabels("__name__", "inf"), Value: math.Inf(1), Timestamp: 5},
		{Labels: sampleLabels("__name__", "u\u00f1\u00ed\u00e7ode", "v", "\u017c\u00f3\u0142w"), Value: 0, Timestamp: 6},
		// Kapacitor's spellings: typed bounds re-spelled, untyped kept, a failed scrape's counts zero.
		{Labels: sampleLabels("__name__", "h_bucket", "le", "1.0"), Value: 3, Timestamp: 7, Type: model.MetricTypeHistogram, Family: "h"},
		{Labels: sampleLabels("__name__", "s", "quantile", "0.990"), Value: 3, Timestamp: 7, Type: model.MetricTypeSummary, Family: "s"},
		{Labels: sampleLabels("__name__", "u_bucket", "le", "1.0"), Value: 3, Timestamp: 7},
		{Labels: sampleLabels("__name__", "up"), Value: 0, Timestamp: 8, Type: model.MetricTypeGauge, Synthetic: true},
		{Labels: sampleLabels("__name__", "scrape_samples_scraped"), Value: 5, Timestamp: 8, Type: model.MetricTypeGauge, Synthetic: true},
		{Labels: sampleLabels("__name__", "scrape_samples_post_metric_relabeling"), Value: 4, Timestamp: 8, Type: model.MetricTypeGauge, Synthetic: true},
	}
	for _, r := range routes {
		var out bytes.Buffer
		// The pieces as the format's table has them: the line writer the runner takes, the converter Gather does.
		k := kapacitorMetricFormat.newLineWriter()
		k.writeTo(&out, newRouteTable(map[*scrape.Scraper]*routing{nil: r}))
		var want []byte
		strs, format, safe := newInterner(), kapacitorMetricFormat.newConverter(), &lineSafe{}
		for i := range samples {
			own := samples[i] // each writer gets the sample as scraped: both change it in place
			own.Labels = slices.Clone(samples[i].Labels)
			require.NoError(t, k.Add(nil, nil, &own))
			own = samples[i]
			own.Labels = slices.Clone(samples[i].Labels)
			if keep, err := safe.apply(&own); !keep || err != nil { // as sink.Add does
				continue
			}
			for _, m := range format.add(nil, &own, nil, nil, r, strs) {
				b, err := serializer.Serialize(m)
				if err != nil { // Inf: the serializer refuses the metric; the sink writes nothing
					continue
				}
				want = append(want, b...)
			}
		}
		k.Flush()
		require.Equal(t, string(want), out.String())
		// Both agree, and on Kapacitor's spellings: typed bounds re-spelled, untyped kept, the counts zero.
		for _, want := range []string{"h_bucket,__name__=h_bucket,", ",le=1,", "s,__name__=s,", ",quantile=0.99,",
			"u_bucket,__name__=u_bucket,", ",le=1.0,", "scrape_samples_scraped,", "scrape_samples_post_metric_relabeling,"} {
			require.Contains(t, out.String(), want)
		}
		require.NotContains(t, out.String(), "value=5 ", "a failed scrape's count")
		require.NotContains(t, out.String(), "value=4 ", "a failed scrape's count")
	}
}

// sampleLabels are the labels of a scraped sample, sorted by name.
func sampleLabels(nameValues ...string) scrape.Labels {
	var ls scrape.Labels
	labels.FromStrings(nameValues...).Range(func(l labels.Label) { ls = append(ls, l) })
	return ls
}

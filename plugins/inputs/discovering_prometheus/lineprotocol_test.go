package discovering_prometheus

import (
	"bytes"
	"math"
	"testing"

	"github.com/influxdata/telegraf/plugins/serializers/influx"
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
	}
	for _, r := range routes {
		var out bytes.Buffer
		k := newLineSink(map[*scrape.Scraper]*routing{nil: r})
		k.w = &out
		var want []byte
		strs, format := newInterner(), &kapacitorFormat{}
		for i := range samples {
			k.Add(nil, nil, &samples[i])
			m := format.metric(&samples[i], r, strs)
			if m == nil {
				continue
			}
			b, err := serializer.Serialize(m)
			if err != nil { // Inf: the serializer refuses the metric; the sink writes nothing
				continue
			}
			want = append(want, b...)
		}
		k.Flush()
		require.Equal(t, string(want), out.String())
	}
}

// sampleLabels are the labels of a scraped sample, sorted by name.
func sampleLabels(nameValues ...string) scrape.Labels {
	var ls scrape.Labels
	labels.FromStrings(nameValues...).Range(func(l labels.Label) { ls = append(ls, l) })
	return ls
}

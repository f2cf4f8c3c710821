package discovering_prometheus

import (
	"math"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// formats are the metric formats, by their metric_format name.
var formats = map[string]func(*scrape.Sample, *routing) telegraf.Metric{
	"kapacitor": kapacitorMetric,
}

// routing is what every metric of a scraper carries so that Telegraf's InfluxDB outputs route it.
type routing struct {
	dbTag, db string
	rpTag, rp string
}

// kapacitorMetric is what Kapacitor wrote for a sample: measurement = metric name, one float field "value",
// every label as a tag (instance and __name__ included, job not), NaN dropped.
func kapacitorMetric(s *scrape.Sample, r *routing) telegraf.Metric {
	if math.IsNaN(s.Value) {
		return nil
	}
	tags := make(map[string]string, s.Labels.Len()+1)
	s.Labels.Range(func(l labels.Label) {
		if l.Name != model.JobLabel {
			tags[l.Name] = l.Value
		}
	})
	tags[r.dbTag] = r.db
	tags[r.rpTag] = r.rp
	return metric.New(tags[model.MetricNameLabel], tags, map[string]any{"value": s.Value}, time.UnixMilli(s.Timestamp))
}

// sink turns one scrape worker's samples into metrics and hands them to the accumulator when the scrape
// has succeeded.
type sink struct {
	acc     telegraf.Accumulator
	convert func(*scrape.Sample, *routing) telegraf.Metric
	routes  map[*scrape.Scraper]*routing
	metrics []telegraf.Metric
}

func (k *sink) Add(s *scrape.Scraper, _ *scrape.Target, sample *scrape.Sample) {
	if m := k.convert(sample, k.routes[s]); m != nil {
		k.metrics = append(k.metrics, m)
	}
}

func (k *sink) Drop() {
	clear(k.metrics)
	k.metrics = k.metrics[:0]
}

func (k *sink) Flush() {
	for _, m := range k.metrics {
		k.acc.AddMetric(m)
	}
	k.Drop()
}

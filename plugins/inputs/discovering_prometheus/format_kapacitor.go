package discovering_prometheus

import (
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// kapacitorMetricFormat is the "kapacitor" format: what Kapacitor wrote, a point per finite sample (see
// kapacitorPoints.point), as a Telegraf metric (kapacitorFormat) or straight as line protocol (lineSink).
var kapacitorMetricFormat = &metricFormat{
	newConverter:  func() converter { return &kapacitorFormat{} },
	newLineWriter: func() lineWriter { return newLineSink() },
	// Every label is a tag: the target's instance, and a bucket's or quantile's bound.
	tags: []string{"instance", "le", "quantile"},
}

// kapacitorFormat is the "kapacitor" format's converter. It needs nothing from one sample to the next, so
// each sample becomes its metric at once.
type kapacitorFormat struct {
	points kapacitorPoints
	draft  draft
}

func (k *kapacitorFormat) add(ms []telegraf.Metric, sample *scrape.Sample, _ *scrape.Scraper, _ *scrape.Target, r *routing, strs *interner) []telegraf.Metric {
	if !k.points.point(sample, strs) {
		return ms
	}
	return append(ms, k.metric(sample, r, strs))
}

func (*kapacitorFormat) flush(ms []telegraf.Metric, _ *interner) []telegraf.Metric { return ms }

func (*kapacitorFormat) drop() {}

// metric is what Kapacitor wrote for a sample: measurement = metric name, one float field "value", every
// label as a tag (instance and __name__ included, job not), of a sample that kapacitorPoints.point made a
// point.
func (k *kapacitorFormat) metric(s *scrape.Sample, r *routing, strs *interner) telegraf.Metric {
	d := &k.draft
	d.name, d.tm = strs.get(s.Labels.Get(model.MetricNameLabel)), time.UnixMilli(s.Timestamp)
	d.field = telegraf.Field{Key: "value", Value: s.Value}
	d.tags = d.tags[:0]
	r.tags(s.Labels, func(key, value string) {
		// The previous sample's tag in this place, still in the draft, is the likeliest to match: the series
		// of a family share their keys, and a target's series their instance, db and rp.
		var prev telegraf.Tag
		if i := len(d.tags); i < cap(d.tags) {
			prev = d.tags[:i+1][i]
		}
		d.tags = append(d.tags, telegraf.Tag{Key: stable(prev.Key, key, strs), Value: stable(prev.Value, value, strs)})
	})
	return d.copy()
}

// stable returns a copy of s that outlives the sample: prev, a stable string, when it is equal, else the
// interned one.
func stable(prev, s string, strs *interner) string {
	if prev == s {
		return prev
	}
	return strs.get(s)
}

// tags calls tag with each tag of the kapacitor format for a sample's labels, in key order: every label
// but job, with the routing tags merged in, which win over labels of their names.
func (r *routing) tags(ls scrape.Labels, tag func(key, value string)) {
	routing := [2]labels.Label{{Name: r.dbTag, Value: r.db}, {Name: r.rpTag, Value: r.rp}}
	if routing[1].Name < routing[0].Name {
		routing[0], routing[1] = routing[1], routing[0]
	}
	next := 0
	for _, l := range ls {
		if l.Name == model.JobLabel || l.Name == r.dbTag || l.Name == r.rpTag {
			continue
		}
		for ; next < 2 && routing[next].Name < l.Name; next++ {
			tag(routing[next].Name, routing[next].Value)
		}
		tag(l.Name, l.Value)
	}
	for ; next < 2; next++ {
		tag(routing[next].Name, routing[next].Value)
	}
}

// draft is a metric being written, with its tags already in key order and unique, which Telegraf's
// metric.FromMetric copies into a metric of its own: the copy allocates the tag list once, at its size,
// where building it with AddTag grows the list and shifts it tag by tag. FromMetric reads only the methods
// below; the embedded interface, nil, is there to make a draft a telegraf.Metric.
type draft struct {
	telegraf.Metric
	name    string
	tm      time.Time
	tags    []telegraf.Tag
	tagList []*telegraf.Tag
	field   telegraf.Field
	fields  [1]*telegraf.Field
}

func (d *draft) Name() string                 { return d.name }
func (d *draft) Time() time.Time              { return d.tm }
func (d *draft) Type() telegraf.ValueType     { return telegraf.Untyped }
func (d *draft) TagList() []*telegraf.Tag     { return d.tagList }
func (d *draft) FieldList() []*telegraf.Field { return d.fields[:] }

func (d *draft) copy() telegraf.Metric {
	d.fields[0] = &d.field
	d.tagList = d.tagList[:0]
	for i := range d.tags {
		d.tagList = append(d.tagList, &d.tags[i])
	}
	return metric.FromMetric(d)
}

package discovering_prometheus

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
	"github.com/prometheus/common/model"

	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// promConverter is the "prometheus-v1" and "prometheus-v2" formats: what Telegraf's inputs.prometheus
// writes with metric_version = 1 or 2, i.e. what its Prometheus-format parser (plugins/parsers/prometheus)
// makes of the text or protobuf format. Counters, gauges and untyped series become their metric at once;
// a histogram's or summary's series of one label set are held until the scrape ends, because that parser
// makes them one metric (v1) or a count/sum metric plus one per bucket or quantile, all with one timestamp
// (v2).
//
// The samples come from whichever format the target answered in, OpenMetrics included, and are read as
// the text format would show them, since that is what inputs.prometheus asks for: an OpenMetrics counter
// keeps its _total name, and a _created series is a gauge of that name, as exporters write it in the text
// format.
type promConverter struct {
	version int

	// What the formats take from the target of the samples under way.
	target         *scrape.Target
	url            string
	instance, job  string // the target's labels of these names, "" when it has none
	restoreExports bool   // exported_instance and exported_job are scraped labels the target's displaced

	groups map[string]*promGroup // the histograms and summaries of the scrape, by family and labels
	order  []*promGroup          // the same, in order of appearance
	spare  []*promGroup          // groups of earlier scrapes, for reuse
	tags   []telegraf.Tag        // scratch
	buf    []byte                // scratch
}

// promGroup is one histogram or summary of a scrape: the series of one family and label set.
type promGroup struct {
	family     string
	typ        telegraf.ValueType
	tags       []telegraf.Tag // without le or quantile; with url, db and rp
	count, sum float64
	points     []promPoint
	timestamp  int64
}

// promPoint is a bucket (le) or quantile of a promGroup, its bound formatted as Telegraf formats it.
type promPoint struct {
	bound string
	value float64
}

// promMetricFormat is the "prometheus-v<version>" format. It keeps ±Inf samples, as inputs.prometheus does,
// and has them reported.
func promMetricFormat(version int) *metricFormat {
	return &metricFormat{
		newConverter: func() converter { return newPromConverter(version) },
		// Every label is a tag, the target's instance and job given back their scraped values, and url.
		tags:    []string{"instance", "job", "url", "le", "quantile"},
		keptInf: (*infReport).report,
	}
}

func newPromConverter(version int) *promConverter {
	return &promConverter{version: version, groups: make(map[string]*promGroup)}
}

// promRole is what a sample is to a promConverter.
type promRole uint8

const (
	roleSingle promRole = iota // a series of its own: counter, gauge or untyped
	roleCount                  // the _count of a histogram or summary
	roleSum                    // its _sum
	rolePoint                  // a histogram's bucket or a summary's quantile
)

// classify tells what a sample named name is as Telegraf's text-format parser reads it: it takes a series
// for part of its family only under the names the text format gives that family's series, and a series
// of any other name for an untyped family of its own.
func classify(s *scrape.Sample, name string) (promRole, telegraf.ValueType) {
	family := s.Family
	if family == "" {
		family = name // no TYPE line: the series is its own family (and the synthetic series are gauges)
	}
	suffix, _ := strings.CutPrefix(name, family)
	switch s.Type {
	case model.MetricTypeCounter:
		if suffix == "" || suffix == "_total" {
			return roleSingle, telegraf.Counter
		}
	case model.MetricTypeGauge:
		if suffix == "" {
			return roleSingle, telegraf.Gauge
		}
	case model.MetricTypeInfo, model.MetricTypeStateset:
		// OpenMetrics only; exporters write both as gauges in the text format.
		return roleSingle, telegraf.Gauge
	case model.MetricTypeHistogram, model.MetricTypeGaugeHistogram:
		switch suffix {
		case "", "_bucket":
			return rolePoint, telegraf.Histogram
		case "_count", "_gcount":
			return roleCount, telegraf.Histogram
		case "_sum", "_gsum":
			return roleSum, telegraf.Histogram
		}
	case model.MetricTypeSummary:
		switch suffix {
		case "":
			return rolePoint, telegraf.Summary
		case "_count":
			return roleCount, telegraf.Summary
		case "_sum":
			return roleSum, telegraf.Summary
		}
	}
	switch s.Type {
	case model.MetricTypeCounter, model.MetricTypeHistogram, model.MetricTypeGaugeHistogram, model.MetricTypeSummary:
		if suffix == "_created" { // OpenMetrics only
			return roleSingle, telegraf.Gauge
		}
	}
	return roleSingle, telegraf.Untyped
}

func (c *promConverter) add(ms []telegraf.Metric, sample *scrape.Sample, s *scrape.Scraper, t *scrape.Target, r *routing, strs *interner) []telegraf.Metric {
	if t != c.target {
		c.target = t
		c.url = strs.get(safeValue(t.URL))
		// As the sample's labels have them, made safe (linesafe.go).
		c.instance = safeValue(t.Labels.Get(model.InstanceLabel))
		c.job = safeValue(t.Labels.Get(model.JobLabel))
		c.restoreExports = !s.Config().HonorLabels
	}
	name := sample.Labels.Get(model.MetricNameLabel)
	role, typ := classify(sample, name)
	if role == roleSingle {
		if math.IsNaN(sample.Value) {
			return ms // Telegraf's parser drops NaN counters, gauges and untyped series.
		}
		name = strs.get(name)
		field := name
		if c.version == 1 {
			switch typ {
			case telegraf.Counter:
				field = "counter"
			case telegraf.Gauge:
				field = "gauge"
			default:
				field = "value"
			}
		} else {
			name = "prometheus"
		}
		m := metric.New(name, nil, nil, promTime(sample.Timestamp), typ)
		c.tags = c.appendTags(c.tags[:0], sample.Labels, "", r, strs)
		for _, tag := range c.tags {
			m.AddTag(tag.Key, tag.Value)
		}
		m.AddField(field, sample.Value)
		return append(ms, m)
	}

	special := model.BucketLabel
	if typ == telegraf.Summary {
		special = model.QuantileLabel
	}
	g := c.group(sample, typ, special, r, strs)
	g.timestamp = sample.Timestamp // the parser's metric takes the time of its last line
	switch role {
	case roleCount:
		g.count = sample.Value
	case roleSum:
		g.sum = sample.Value
	case rolePoint:
		// Telegraf's parser reads the bound as a float and formats it back ("1.0" becomes "1"); it drops a
		// series whose bound is NaN or missing.
		bound, err := parseBound(sample.Labels.Get(special))
		if err != nil || math.IsNaN(bound) {
			return ms
		}
		c.buf = strconv.AppendFloat(c.buf[:0], bound, 'g', -1, 64)
		g.points = append(g.points, promPoint{bound: strs.bytes(c.buf), value: sample.Value})
	}
	return ms
}

// parseBound is the text-format parser's reading of an le or quantile label.
func parseBound(s string) (float64, error) {
	if strings.ContainsAny(s, "pP_") {
		return 0, strconv.ErrSyntax
	}
	return strconv.ParseFloat(s, 64)
}

// group returns the sample's group, made on its first series.
func (c *promConverter) group(sample *scrape.Sample, typ telegraf.ValueType, special string, r *routing, strs *interner) *promGroup {
	c.buf = append(c.buf[:0], sample.Family...)
	for _, l := range sample.Labels {
		if l.Name != model.MetricNameLabel && l.Name != special {
			c.buf = append(append(append(append(c.buf, 0xff), l.Name...), 0xfe), l.Value...)
		}
	}
	if g, ok := c.groups[string(c.buf)]; ok {
		return g
	}
	var g *promGroup
	if n := len(c.spare); n > 0 {
		g, c.spare = c.spare[n-1], c.spare[:n-1]
	} else {
		g = &promGroup{}
	}
	c.groups[string(c.buf)] = g
	c.order = append(c.order, g)
	g.family, g.typ = strs.get(sample.Family), typ
	g.tags = c.appendTags(g.tags[:0], sample.Labels, special, r, strs)
	return g
}

// appendTags appends a sample's tags: its labels but __name__ and skip, then url, db and rp.
//
// inputs.prometheus has no target labels; it tags the URL it scraped. So the target's instance and job
// are left out, and a scraped instance or job that they displaced (Prometheus keeps it as
// exported_instance or exported_job unless honor-labels is set) gets its own name back. Other target
// labels (a discoverer's) stay, as the tags of inputs.prometheus' own discoverers do.
func (c *promConverter) appendTags(tags []telegraf.Tag, lset scrape.Labels, skip string, r *routing, strs *interner) []telegraf.Tag {
	for _, l := range lset {
		name := l.Name
		switch name {
		case model.MetricNameLabel, skip:
			continue
		case model.InstanceLabel:
			if l.Value == c.instance {
				continue
			}
		case model.JobLabel:
			if l.Value == c.job {
				continue
			}
		case model.ExportedLabelPrefix + model.InstanceLabel:
			if c.restoreExports && c.instance != "" {
				name = model.InstanceLabel
			}
		case model.ExportedLabelPrefix + model.JobLabel:
			if c.restoreExports && c.job != "" {
				name = model.JobLabel
			}
		}
		tags = append(tags, telegraf.Tag{Key: strs.get(name), Value: strs.get(l.Value)})
	}
	return append(tags,
		telegraf.Tag{Key: "url", Value: c.url},
		telegraf.Tag{Key: r.dbTag, Value: r.db},
		telegraf.Tag{Key: r.rpTag, Value: r.rp})
}

func (c *promConverter) flush(ms []telegraf.Metric, strs *interner) []telegraf.Metric {
	for _, g := range c.order {
		g.telegrafCounts()
		if c.version == 1 {
			ms = append(ms, g.v1())
		} else {
			ms = c.appendV2(ms, g, strs)
		}
	}
	c.drop()
	return ms
}

// telegrafCounts makes the group's counts what Telegraf's parser makes of them, for the same numbers: it
// holds counts as integers, so it truncates a summary's count, and it reads a histogram with any count or
// bucket that is not a whole number (NaN included) as one of float counts, which it then reports as zeros.
func (g *promGroup) telegrafCounts() {
	if g.typ == telegraf.Summary {
		g.count = float64(uint64(g.count))
		return
	}
	whole := isWhole(g.count)
	for _, p := range g.points {
		whole = whole && isWhole(p.value)
	}
	if !whole {
		g.count = 0
		for i := range g.points {
			g.points[i].value = 0
		}
	}
}

// isWhole is the text-format parser's test of an integer count.
func isWhole(v float64) bool { return v == float64(uint64(v)) }

// v1 is the group as metric_version = 1 has it: one metric named after the family, with fields count, sum
// and one per bucket or quantile, named by its bound. NaN quantiles are left out, as Telegraf does.
func (g *promGroup) v1() telegraf.Metric {
	m := newGroupMetric(g.family, g)
	m.AddField("count", g.count)
	m.AddField("sum", g.sum)
	for _, p := range g.points {
		if g.typ == telegraf.Summary && math.IsNaN(p.value) {
			continue
		}
		m.AddField(p.bound, p.value)
	}
	return m
}

// appendV2 appends the group as metric_version = 2 has it: a metric with fields <family>_count and
// <family>_sum, then one per bucket (field <family>_bucket, tag le) or quantile (field <family>, tag
// quantile), and a +Inf bucket holding the count when the histogram has none.
func (c *promConverter) appendV2(ms []telegraf.Metric, g *promGroup, strs *interner) []telegraf.Metric {
	m := newGroupMetric("prometheus", g)
	m.AddField(c.suffixed(g.family, "_count", strs), g.count)
	m.AddField(c.suffixed(g.family, "_sum", strs), g.sum)
	ms = append(ms, m)
	field, tag := g.family, model.QuantileLabel
	if g.typ == telegraf.Histogram {
		field, tag = c.suffixed(g.family, "_bucket", strs), model.BucketLabel
	}
	inf := false
	for _, p := range g.points {
		m := newGroupMetric("prometheus", g)
		m.AddTag(tag, p.bound)
		m.AddField(field, p.value)
		ms = append(ms, m)
		inf = inf || p.bound == "+Inf"
	}
	if g.typ == telegraf.Histogram && !inf {
		m := newGroupMetric("prometheus", g)
		m.AddTag(tag, "+Inf")
		m.AddField(field, g.count)
		ms = append(ms, m)
	}
	return ms
}

func newGroupMetric(name string, g *promGroup) telegraf.Metric {
	m := metric.New(name, nil, nil, promTime(g.timestamp), g.typ)
	for _, tag := range g.tags {
		m.AddTag(tag.Key, tag.Value)
	}
	return m
}

// suffixed returns family+suffix without building the string once it is interned.
func (c *promConverter) suffixed(family, suffix string, strs *interner) string {
	c.buf = append(append(c.buf[:0], family...), suffix...)
	return strs.bytes(c.buf)
}

func (c *promConverter) drop() {
	clear(c.groups)
	for _, g := range c.order {
		g.count, g.sum, g.points = 0, 0, g.points[:0]
	}
	c.spare = append(c.spare, c.order...)
	clear(c.order)
	c.order = c.order[:0]
}

// promTime is a sample's time as Telegraf's parser has it: a timestamp of zero or less counts as none,
// and the time is then the gather's.
func promTime(ms int64) time.Time {
	if ms <= 0 {
		return time.Now()
	}
	return time.UnixMilli(ms)
}

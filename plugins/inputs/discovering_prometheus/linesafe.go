package discovering_prometheus

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/discovering-prometheus/discovering-prometheus/internal/safetext"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// Line protocol writes a point's measurement, tag keys and tag values as escaped text, and Telegraf's and
// InfluxDB's parsers read a backslash there as escaping whatever byte follows it. Text that does not read
// back as written moves the boundaries between tags: an exposed label named `db\` was written as a second
// db tag, which Telegraf's parser let win, and a value ending in a backslash swallows the tag after it.
// So no name or value of a target reaches a metric as it came; each sample is made safe first:
//
//   - A metric or label name outside Prometheus' classic charset, [a-zA-Z_:][a-zA-Z0-9_:]*, is written
//     with Prometheus' underscores escaping (model.EscapeName): every other character becomes "_". It is
//     what Prometheus 3 writes for a consumer that only takes classic names, and what Telegraf's own
//     Prometheus serializer does; the result needs no escaping and no quoting in InfluxQL, Flux or a
//     TICKscript. Look-alikes of a tag name in other scripts ("ԁb") are escaped too ("_b"): distinct keys.
//   - A tag value loses every backslash that ends it or stands before a space, comma, equals sign or
//     double quote: line protocol cannot carry those (Telegraf's serializer drops trailing ones, and its
//     parser reads \" as "). A vertical tab, which the serializer leaves as it is and the parser reads as
//     the end of the tags, is written \v.
//   - A sample whose names, so written, give two labels one name fails its scrape, as a series with a
//     label name twice fails it in Prometheus.
//   - A sample whose timestamp line protocol cannot carry, in nanoseconds since the epoch in 64 bits
//     (before 1677-09-21 or after 2262-04-11), is dropped, as NaN is: written, it would wrap around.
//
// The routing tags and the url tag are the plugin's: they replace any label of their names.

// lineSafe makes samples safe for line protocol; each sink has its own.
type lineSafe struct {
	written []writtenLabel
	labels  []labels.Label
}

// writtenLabel is a label as line protocol is given it, with its name as scraped.
type writtenLabel struct {
	labels.Label
	scraped string
}

// Timestamps line protocol can carry, in milliseconds.
const (
	minMillis = math.MinInt64 / int64(time.Millisecond)
	maxMillis = math.MaxInt64 / int64(time.Millisecond)
)

// apply makes the sample safe in place, or tells that it is to be dropped (keep false) or refused (an
// error); the labels it gives the sample live until the next apply.
func (ls *lineSafe) apply(sample *scrape.Sample) (keep bool, err error) {
	if sample.Timestamp < minMillis || sample.Timestamp > maxMillis {
		return false, nil
	}
	if sample.Family != "" && !legacyName(sample.Family) {
		sample.Family = model.EscapeName(sample.Family, model.UnderscoreEscaping)
	}
	if safeLabels(sample.Labels) {
		return true, nil
	}
	ls.written = ls.written[:0]
	for _, l := range sample.Labels {
		w := writtenLabel{Label: labels.Label{Name: l.Name, Value: safeValue(l.Value)}, scraped: l.Name}
		if !legacyName(w.Name) {
			w.Name = model.EscapeName(w.Name, model.UnderscoreEscaping)
		}
		if l.Name == model.MetricNameLabel && !legacyName(l.Value) {
			w.Value = model.EscapeName(l.Value, model.UnderscoreEscaping) // a name, also the measurement
		}
		if w.Value == "" {
			continue // nothing but backslashes: a label with no value is no label, in Prometheus too
		}
		ls.written = append(ls.written, w)
	}
	slices.SortStableFunc(ls.written, func(a, b writtenLabel) int { return strings.Compare(a.Name, b.Name) })
	ls.labels = ls.labels[:0]
	for i, w := range ls.written {
		if i > 0 && w.Name == ls.written[i-1].Name {
			return false, fmt.Errorf("%s: labels %s and %s are both written %s in line protocol: invalid sample",
				safetext.QuoteExcerpt(sample.Labels.Get(model.MetricNameLabel)), safetext.QuoteExcerpt(ls.written[i-1].scraped), safetext.QuoteExcerpt(w.scraped), safetext.QuoteExcerpt(w.Name))
		}
		ls.labels = append(ls.labels, w.Label)
	}
	sample.Labels = ls.labels
	return true, nil
}

// safeLabels tells whether every label of a sample is written as it is: the common case, checked without
// allocating.
func safeLabels(ls scrape.Labels) bool {
	for _, l := range ls {
		if !legacyName(l.Name) || strings.IndexByte(l.Value, '\\') >= 0 || strings.IndexByte(l.Value, '\v') >= 0 {
			return false
		}
		if l.Name == model.MetricNameLabel && !legacyName(l.Value) {
			return false
		}
	}
	return true
}

// legacyName tells whether a name is in Prometheus' classic charset, which model.EscapeName leaves alone.
func legacyName(name string) bool { return model.LegacyValidation.IsValidMetricName(name) }

// safeValue is a tag value as line protocol can carry it: without the backslashes that end it or stand
// before a space, comma, equals sign or double quote, and with a vertical tab written as the two
// characters \v, as Telegraf's serializer writes a tab \t (its parser would end the tags there).
func safeValue(v string) string {
	if strings.IndexByte(v, '\\') < 0 && strings.IndexByte(v, '\v') < 0 {
		return v
	}
	b := make([]byte, 0, len(v)+1)
	for i := 0; i < len(v); {
		if v[i] == '\v' {
			b = append(b, `\v`...)
			i++
			continue
		}
		j := i
		for j < len(v) && v[j] == '\\' {
			j++
		}
		if j == i {
			b = append(b, v[i])
			i++
			continue
		}
		if j < len(v) && v[j] != ' ' && v[j] != ',' && v[j] != '=' && v[j] != '"' {
			b = append(b, v[i:j]...)
		}
		i = j
	}
	return string(b)
}

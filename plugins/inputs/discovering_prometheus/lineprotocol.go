package discovering_prometheus

import (
	"io"
	"strconv"

	"github.com/prometheus/common/model"

	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// lineSink is the kapacitor format's line writer: it writes the format straight to line protocol, byte for byte what Telegraf's influx
// serializer writes for kapacitorFormat's metric, without building the metric: the runner's output is line
// protocol anyway, and the metric and its serialization were most of what a sample cost there. Each parse
// slot has its own; a scrape's lines reach w in one Write when the scrape has succeeded.
type lineSink struct {
	w      io.Writer // shared by the slots: Write must be safe for concurrent use
	routes *routeTable
	safe   lineSafe
	points kapacitorPoints
	strs   *interner // for points
	buf    []byte

	// The routing of the sample being written.
	scraper *scrape.Scraper
	route   *routing
}

func newLineSink() *lineSink {
	return &lineSink{strs: newInterner()}
}

func (k *lineSink) Add(s *scrape.Scraper, _ *scrape.Target, sample *scrape.Sample) error {
	if keep, err := k.safe.apply(sample); !keep {
		return err
	}
	if !k.points.point(sample, k.strs) {
		return nil
	}
	start := len(k.buf)
	k.buf = appendEscaped(k.buf, sample.Labels.Get(model.MetricNameLabel), false)
	if len(k.buf) == start {
		return nil
	}
	if k.scraper != s || k.route == nil {
		k.scraper, k.route = s, k.routes.of(s)
	}
	k.route.tags(sample.Labels, k.appendTag)
	k.buf = append(k.buf, " value="...)
	k.buf = strconv.AppendFloat(k.buf, sample.Value, 'f', -1, 64)
	k.buf = append(k.buf, ' ')
	k.buf = strconv.AppendInt(k.buf, sample.Timestamp*1e6, 10)
	k.buf = append(k.buf, '\n')
	return nil
}

func (k *lineSink) writeTo(w io.Writer, routes *routeTable) {
	k.w, k.routes = w, routes
}

func (k *lineSink) appendTag(key, value string) { k.buf = appendTag(k.buf, key, value) }

func (k *lineSink) Drop() { k.buf = k.buf[:0] }

func (k *lineSink) Flush() {
	if len(k.buf) > 0 {
		_, _ = k.w.Write(k.buf)
	}
	k.buf = k.buf[:0]
}

// appendTag writes ",key=value" as the influx serializer does: escaped, trailing backslashes (which line
// protocol cannot end a key or value with) trimmed, and nothing at all for an empty key or value.
func appendTag(buf []byte, key, value string) []byte {
	start := len(buf)
	buf = append(buf, ',')
	buf = appendEscaped(buf, key, true)
	buf = trimBackslashes(buf)
	if len(buf) == start+1 {
		return buf[:start]
	}
	buf = append(buf, '=')
	mark := len(buf)
	buf = appendEscaped(buf, value, true)
	buf = trimBackslashes(buf)
	if len(buf) == mark {
		return buf[:start]
	}
	return buf
}

func trimBackslashes(buf []byte) []byte {
	for len(buf) > 0 && buf[len(buf)-1] == '\\' {
		buf = buf[:len(buf)-1]
	}
	return buf
}

// special marks the bytes line protocol escapes somewhere.
var special = [256]bool{'\t': true, '\n': true, '\f': true, '\r': true, ' ': true, ',': true, '=': true}

// appendEscaped escapes as the influx serializer does: tabs, newlines, form feeds, carriage returns, commas
// and spaces everywhere, and equals signs in tag keys and values.
func appendEscaped(buf []byte, s string, equals bool) []byte {
	plain := true
	for i := 0; i < len(s) && plain; i++ {
		plain = !special[s[i]]
	}
	if plain {
		return append(buf, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\t':
			buf = append(buf, `\t`...)
		case '\n':
			buf = append(buf, `\n`...)
		case '\f':
			buf = append(buf, `\f`...)
		case '\r':
			buf = append(buf, `\r`...)
		case ',', ' ':
			buf = append(buf, '\\', c)
		case '=':
			if equals {
				buf = append(buf, '\\')
			}
			buf = append(buf, c)
		default:
			buf = append(buf, c)
		}
	}
	return buf
}

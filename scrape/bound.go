package scrape

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/discovering-prometheus/discovering-prometheus/internal/safetext"
)

// MaxLabelBytes bounds every label name and value, scraped or discovered, whatever the scraper's
// label-value-length-limit says: Prometheus' labels package panics ("String too long to encode as label.")
// on a name or value of more than 16 MiB (maxEncodable), and one valid line or one SD answer would
// otherwise kill the process. A sample over the bound fails its scrape, a discovered target over it is
// left out. It must stay at most maxEncodable.
const MaxLabelBytes = 1 << 20

// maxEncodable is the longest name or value labels.Labels can encode. Its panic comes above 1<<24 bytes,
// but its size field holds 3 bytes: a value of 1<<24 exactly is encoded with a size of 0, and its own bytes
// are read back as labels, which a target can shape as it likes (and which are each under MaxLabelBytes).
const maxEncodable = 1<<24 - 1

// overBound tells whether a label's name or value is over MaxLabelBytes.
func overBound(name, value string) bool {
	return len(name) > MaxLabelBytes || len(value) > MaxLabelBytes
}

// overBoundText says which of a label's name and value is over MaxLabelBytes; what is "label", or
// "group label" for a discovered group's.
func overBoundText(what, name, value string) string {
	if len(name) > MaxLabelBytes {
		return fmt.Sprintf("%s name %s is %d bytes, over the bound of %d bytes on a label name or value", what, safetext.QuoteExcerpt(name), len(name), MaxLabelBytes)
	}
	return fmt.Sprintf("the value of %s %s is %d bytes, over the bound of %d bytes on a label name or value", what, safetext.QuoteExcerpt(name), len(value), MaxLabelBytes)
}

// checkBound fails a sample whose labels ls have a name or value over MaxLabelBytes, naming the series by
// its metric name and the label, both cut short.
func checkBound(ls Labels) error {
	for _, l := range ls {
		if overBound(l.Name, l.Value) {
			return fmt.Errorf("%s: %s", safetext.QuoteExcerpt(ls.Get(model.MetricNameLabel)), overBoundText("label", l.Name, l.Value))
		}
	}
	return nil
}

// checkBuilderBound is checkBound for the labels of a builder, before anything encodes them.
func checkBuilderBound(lb *labels.Builder) error {
	over, ok := builderOverBound(lb)
	if !ok {
		return nil
	}
	return fmt.Errorf("%s: %s", safetext.QuoteExcerpt(lb.Get(model.MetricNameLabel)), overBoundText("label", over.Name, over.Value))
}

// builderOverBound returns the first label of the builder with a name or value over MaxLabelBytes.
func builderOverBound(lb *labels.Builder) (over labels.Label, found bool) {
	lb.Range(func(l labels.Label) {
		if !found && overBound(l.Name, l.Value) {
			over, found = l, true
		}
	})
	return over, found
}

// longestLabel is the length of the longest name or value in the bytes of a text or OpenMetrics series
// (`name{a="1"}`, `{"name","a"="1"}`), without splitting it into labels: a bare name is a run of bytes
// between the delimiters, a quoted one is measured with its escapes undone, as textparse undoes them.
// Before textparse's Labels() encodes a series, this tells whether it can: the bytes bound every label.
func longestLabel(series []byte) int {
	longest, run := 0, 0
	for i := 0; i < len(series); i++ {
		switch c := series[i]; c {
		case '"':
			run = 0
			n := 0
			for i++; i < len(series) && series[i] != '"'; i++ {
				if series[i] == '\\' && i+1 < len(series) && (series[i+1] == '\\' || series[i+1] == '"' || series[i+1] == 'n') {
					i++
				}
				n++
			}
			longest = max(longest, n)
		case '{', '}', ',', '=', ' ', '\t':
			run = 0
		default:
			run++
			longest = max(longest, run)
		}
	}
	return longest
}

// checkSeriesBound is checkBound for a series textparse reads, before its Labels() encodes it: a series
// with a name or value textparse cannot encode fails here, any other is left to checkBound, so that both
// readers of the text format fail a series alike whenever they can.
func checkSeriesBound(series []byte) error {
	if n := longestLabel(series); n > maxEncodable {
		return fmt.Errorf("series %s: a label name or value is %d bytes, over the bound of %d bytes on a label name or value", safetext.Quote(series, safetext.Excerpt), n, MaxLabelBytes)
	}
	return nil
}

// checkProtobufBound walks a protobuf body (length-delimited io.prometheus.client.MetricFamily messages)
// for a metric name, label name or label value over MaxLabelBytes: textparse's ProtobufParser encodes each
// series' labels in Next(), before anything could look at them. What is not well-formed is left to the
// parser, which reports it.
func checkProtobufBound(body []byte) error {
	for at := 0; at < len(body); {
		size, n := binary.Uvarint(body[at:])
		if n <= 0 || size > uint64(len(body)-at-n) {
			return nil
		}
		family := body[at+n : at+n+int(size)]
		var err error
		walkFields(family, func(field uint64, b []byte) {
			switch {
			case err != nil:
			case field == 1 && len(b) > MaxLabelBytes: // name
				err = fmt.Errorf("metric family at byte offset %d: name %s is %d bytes, over the bound of %d bytes on a label name or value", at, safetext.Quote(b, safetext.Excerpt), len(b), MaxLabelBytes)
			case field == 4: // metric
				walkFields(b, func(field uint64, pair []byte) {
					if field != 1 || err != nil { // label
						return
					}
					walkFields(pair, func(field uint64, s []byte) {
						if (field == 1 || field == 2) && len(s) > MaxLabelBytes && err == nil {
							err = fmt.Errorf("metric family at byte offset %d: a label name or value of %d bytes, over the bound of %d bytes on a label name or value: %s", at, len(s), MaxLabelBytes, safetext.Quote(s, safetext.Excerpt))
						}
					})
				})
			}
		})
		if err != nil {
			return err
		}
		at += n + int(size)
	}
	return nil
}

// walkFields calls f with each length-delimited field of a protobuf message, skipping the others, and
// stops at the first byte it cannot read. The fields of a group (the deprecated wire types 3 and 4, start and
// end) are skipped as the parser skips an unknown one: stopping at a group would leave the family's metrics
// after it unchecked, for the parser to encode.
func walkFields(msg []byte, f func(field uint64, b []byte)) {
	for depth := 0; len(msg) > 0; {
		key, n := binary.Uvarint(msg)
		if n <= 0 {
			return
		}
		msg = msg[n:]
		switch key & 7 {
		case 0: // varint
			if _, n = binary.Uvarint(msg); n <= 0 {
				return
			}
			msg = msg[n:]
		case 1: // 64-bit
			if len(msg) < 8 {
				return
			}
			msg = msg[8:]
		case 5: // 32-bit
			if len(msg) < 4 {
				return
			}
			msg = msg[4:]
		case 2:
			size, n := binary.Uvarint(msg)
			if n <= 0 || size > uint64(len(msg)-n) {
				return
			}
			if depth == 0 {
				f(key>>3, msg[n:n+int(size)])
			}
			msg = msg[n+int(size):]
		case 3: // start group
			depth++
		case 4: // end group
			if depth--; depth < 0 {
				return // the parser refuses it
			}
		default:
			return
		}
	}
}

// safeParse is w.parse with a panic, of Prometheus' labels package or any other, turned into the scrape's
// error: the backstop behind the bounds, so that one target's body can fail only its own scrape. The
// caller then drops what the sink took, reports the target down and returns the slot, as for any error.
func (w *worker) safeParse(s *Scraper, t *Target, contentType string, now int64, sink Sink) (scraped, kept int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic while parsing: %v", r)
		}
	}()
	return w.parse(s, t, contentType, now, sink)
}

// checkDiscoveredBound fails discovered labels (what: "label" for a target's own, "group label") with a
// name or value over MaxLabelBytes, before Prometheus' target rules encode them.
func checkDiscoveredBound(what string, ls model.LabelSet) error {
	for name, value := range ls {
		if overBound(string(name), string(value)) {
			return errors.New(overBoundText(what, string(name), string(value)))
		}
	}
	return nil
}

// excerptLabels writes discovered labels for an error, sorted, each name and value cut short: a target's
// error must not carry the 17 MiB value that made it fail.
func excerptLabels(ls model.LabelSet) string {
	names := make([]string, 0, len(ls))
	for name := range ls {
		names = append(names, string(name))
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, name := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(safetext.Line(name, safetext.Excerpt))
		b.WriteByte('=')
		b.WriteString(safetext.QuoteExcerpt(string(ls[model.LabelName(name)])))
	}
	b.WriteByte('}')
	return b.String()
}

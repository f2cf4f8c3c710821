package scrape

// The parse stage: a body read by text.go's reader or a textparse parser, each sample handed on with its
// labels (labels.go) and limits (limits.go) to the sink.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unsafe"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"

	"github.com/discovering-prometheus/discovering-prometheus/internal/safetext"
)

// parserOptions are textparse's options for every scrape; parserOptionsFor (native.go) sets a scraper's
// native histograms.
var parserOptions = textparse.ParserOptions{
	// Classic buckets, not native histograms, unless the scraper asks for them.
	IgnoreNativeHistograms: true,
	// An unknown or missing Content-Type is read as the text format, as Prometheus did for years.
	FallbackContentType: "text/plain",
}

// reader is what reading a body reuses, and where it is.
type reader struct {
	body      []byte // the body being parsed
	symbols   *labels.SymbolTable
	unescaped []byte        // label values with escapes, unescaped (grows to twice the longest line)
	ptmp      labels.Labels // the labels as textparse gives them
	families  map[string]string
	// The family of the last TYPE line, and its type.
	family     string
	familyType model.MetricType
	// parserLabels has every series' labels read by the parser's Labels(), never by seriesLabels: the
	// reference the fuzz targets hold seriesLabels to.
	parserLabels bool
	// checkNames is set while textparse reads the body: the names text.go's reader takes are all valid.
	checkNames bool
	// line is the byte offset in body of the line being read, -1 when not known (protobuf): errors say it.
	line int
	// bodyBytes is the size of the scrape's body, for extra-scrape-metrics (extrametrics.go).
	bodyBytes int
}

// maxKeptScratch bounds the line scratch a reader keeps from one scrape to the next, in bytes: a line of
// a few kilobytes is long, and a hostile line of 16 MiB would otherwise leave twice that in a pooled
// worker for good.
const maxKeptScratch = 64 << 10

// release lets go of the body, and of a line scratch grown past maxKeptScratch.
func (r *reader) release() {
	r.body = nil
	if cap(r.unescaped) > maxKeptScratch {
		r.unescaped = nil
	}
}

// parse hands every sample of w.body to sink; it returns how many samples the body held and how many were
// kept after metric relabeling.
func (w *worker) parse(s *Scraper, t *Target, contentType string, now int64, sink Sink) (scraped, kept int, err error) {
	p, err := textparse.New(w.body, contentType, w.symbols, s.parserOptions)
	if p == nil {
		return 0, 0, err
	}
	// The text format is read in one pass of our own (text.go) unless the body has a line it leaves to
	// textparse: then what it delivered is dropped and textparse reads the body from the start.
	if _, text := p.(*textparse.PromParser); text {
		scraped, kept, ok, err := w.parseText(s, t, now, sink)
		if ok {
			return scraped, kept, err
		}
		sink.Drop()
		w.seriesDropped = 0 // counted again by textparse's pass
	}
	return w.parseEntries(p, s, t, contentType, now, sink)
}

// parseEntries is parse by a textparse parser, for every format.
func (w *worker) parseEntries(p textparse.Parser, s *Scraper, t *Target, contentType string, now int64, sink Sink) (scraped, kept int, err error) {
	// The text formats' series bytes can be split without allocating; protobuf's cannot.
	_, protobuf := p.(*textparse.ProtobufParser)
	if protobuf {
		if err := checkProtobufBound(w.body); err != nil {
			return 0, 0, fmt.Errorf("parsing %q body: %w", contentType, err)
		}
	}
	w.family, w.familyType, w.checkNames = "", model.MetricTypeUnknown, true
	// Errors say where in the body they are: textparse does not, but what it returns points into the body
	// (unless it had to copy it), so the entry that failed starts on the line after the last it returned.
	w.line = -1
	last, located := -1, !protobuf
	relabels := len(s.metricRelabel) > 0
	for entries := 1; ; entries++ {
		if due(entries, relabels) {
			if err := w.overrun("parsing", scraped, "samples"); err != nil {
				return scraped, kept, err
			}
		}
		entry, err := p.Next()
		if errors.Is(err, io.EOF) {
			return scraped, kept, w.overrun("parsing", scraped, "samples")
		}
		if err != nil {
			msg := safetext.CapQuoted(err.Error(), safetext.Excerpt)
			if !located {
				return scraped, kept, fmt.Errorf("parsing %q body: %s", contentType, msg)
			}
			_, text := p.(*textparse.PromParser) // it skips blank lines, OpenMetrics' does not
			return scraped, kept, fmt.Errorf("parsing %q body: line at byte offset %d: %s", contentType, nextLine(w.body, last, text), msg)
		}
		switch entry {
		case textparse.EntryType:
			name, typ := p.Type()
			w.family, w.familyType = w.familyName(name), typ
			last, located = track(w.body, name, last, located)
		case textparse.EntryHelp, textparse.EntryUnit, textparse.EntryComment:
			last, located = track(w.body, p.Comment(), last, located) // the text of the line, for all three
		case textparse.EntryHistogram: // only when the scraper asks for native histograms
			scraped++
			if err := w.histogram(p, s, t, now, &kept, sink); err != nil {
				return scraped, kept, err
			}
		case textparse.EntrySeries:
			series, ts, value := p.Series()
			if last, located = track(w.body, series, last, located); !located {
				last = -1
			}
			w.line = last
			if protobuf || w.parserLabels || !seriesLabels(series, w.familyType, &w.parsed, &w.unescaped) {
				if !protobuf {
					if err := checkSeriesBound(series); err != nil {
						return scraped, kept, w.lineError(err)
					}
				}
				p.Labels(&w.ptmp)
				w.parsed = w.parsed[:0]
				w.ptmp.Range(w.appendParsed)
			}
			if ts == nil || !isTrue(s.cfg.HonorTimestamps) {
				ts = &now
			}
			scraped++
			if err := w.add(s, t, value, *ts, &kept, sink); err != nil {
				return scraped, kept, err
			}
		}
	}
}

// track returns the offset in body of the entry bytes b (a series, a name, a comment's text) when the
// entries are located so far; b empty says nothing. The entries are no longer located once one of them is
// not in body: the parser copied it.
func track(body, b []byte, last int, located bool) (int, bool) {
	if !located || len(b) == 0 {
		return last, located
	}
	start, at := uintptr(unsafe.Pointer(unsafe.SliceData(body))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	if at < start || at >= start+uintptr(len(body)) {
		return -1, false
	}
	return int(at - start), true
}

// nextLine is the offset of the line after the line of offset at (-1: of the first line), past blank lines
// when skipBlank is set; the body's length when there is none.
func nextLine(body []byte, at int, skipBlank bool) int {
	i := 0
	if at >= 0 {
		n := bytes.IndexByte(body[at:], '\n')
		if n < 0 {
			return len(body)
		}
		i = at + n + 1
	}
	for skipBlank && i < len(body) && body[i] == '\n' {
		i++
	}
	return i
}

// parseText is parse for the text format, by text.go's reader; ok is false when the body has a line that
// reader leaves to textparse.
func (w *worker) parseText(s *Scraper, t *Target, now int64, sink Sink) (scraped, kept int, ok bool, err error) {
	// PromParser reads a NUL byte as the end of the body.
	if bytes.IndexByte(w.body, 0) >= 0 {
		return 0, 0, false, nil
	}
	honorTimestamps := isTrue(s.cfg.HonorTimestamps)
	w.family, w.familyType, w.checkNames = "", model.MetricTypeUnknown, false
	relabels := len(s.metricRelabel) > 0
	for body, lines := w.body, 1; len(body) > 0; lines++ {
		w.line = len(w.body) - len(body)
		if due(lines, relabels) {
			if err := w.overrun("parsing", scraped, "samples"); err != nil {
				return scraped, kept, true, err
			}
		}
		line, rest, _ := bytes.Cut(body, []byte{'\n'})
		body = rest
		switch {
		case len(line) == 0:
		case line[0] == '#':
			name, typ, isType, ok := metaLine(line)
			if !ok {
				return scraped, kept, false, nil
			}
			if isType {
				w.family, w.familyType = w.familyName(name), typ
			}
		default:
			value, ts, hasTS, ok := textLine(line, w.familyType, &w.parsed, &w.unescaped)
			if !ok {
				return scraped, kept, false, nil
			}
			if !hasTS || !honorTimestamps {
				ts = now
			}
			scraped++
			if err := w.add(s, t, value, ts, &kept, sink); err != nil {
				return scraped, kept, true, err
			}
		}
	}
	return scraped, kept, true, w.overrun("parsing", scraped, "samples")
}

// add hands the sample of w.parsed to sink, with the target's labels, unless metric relabeling drops it;
// kept counts the samples delivered, and a label or sample limit broken fails the scrape.
func (w *worker) add(s *Scraper, t *Target, value float64, ts int64, kept *int, sink Sink) error {
	lset, name, keep, err := w.admit(s, t, kept)
	if !keep || err != nil {
		return err
	}
	return w.deliver(s, t, lset, name, value, ts, sink)
}

// deliver hands one sample of labels lset, named name, to sink, typed by the family being read.
func (w *worker) deliver(s *Scraper, t *Target, lset Labels, name string, value float64, ts int64, sink Sink) error {
	w.sample.Labels, w.sample.Value, w.sample.Timestamp = lset, value, ts
	w.sample.Type, w.sample.Family, w.sample.Synthetic = model.MetricTypeUnknown, "", false
	if inFamily(name, w.family) {
		w.sample.Type, w.sample.Family = w.familyType, w.family
	}
	if err := sink.Add(s, t, &w.sample); err != nil {
		return w.lineError(err)
	}
	return nil
}

// lineError says which line of the body err is about, when that is known.
func (r *reader) lineError(err error) error {
	if r.line < 0 {
		return err
	}
	return fmt.Errorf("line at byte offset %d: %w", r.line, err)
}

// familyName returns the family name as a string, allocated once per name and worker, not once per scrape.
func (r *reader) familyName(name []byte) string {
	if f, ok := r.families[string(name)]; ok {
		return f
	}
	if r.families == nil || len(r.families) > 1<<14 {
		r.families = make(map[string]string)
	}
	f := string(name)
	r.families[f] = f
	return f
}

// inFamily tells whether a series of that name belongs to the family (a histogram's _bucket, say).
func inFamily(name, family string) bool {
	suffix, ok := strings.CutPrefix(name, family)
	if !ok || family == "" {
		return false
	}
	switch suffix {
	case "", "_bucket", "_sum", "_count", "_total", "_created", "_gcount", "_gsum", "_info":
		return true
	}
	return false
}

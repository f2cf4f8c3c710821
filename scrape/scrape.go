package scrape

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/influxdata/telegraf/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	"github.com/prometheus/prometheus/model/textparse"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
	"github.com/discovering-prometheus/discovering-prometheus/internal/safetext"
)

// UserAgent is sent with every scrape.
var UserAgent = "discovering-prometheus"

// acceptHeader asks for what Prometheus asks for, in its order (OpenMetrics first), with the protobuf format
// accepted too: the header of a scraper whose Config has no Accept of its own.
const acceptHeader = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6," +
	"application/openmetrics-text;version=0.0.1;q=0.5," +
	"text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4," +
	"text/plain;version=0.0.4;q=0.3," +
	"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.2," +
	"*/*;q=0.1"

// acceptHeaderProtoFirst is the header of a scraper that scrapes native histograms, which only the protobuf
// format carries: protobuf first, as Prometheus asks with scrape_native_histograms
// (DefaultProtoFirstScrapeProtocols).
const acceptHeaderProtoFirst = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6," +
	"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5," +
	"application/openmetrics-text;version=0.0.1;q=0.4," +
	"text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3," +
	"text/plain;version=0.0.4;q=0.2," +
	"*/*;q=0.1"

func requestHeader(timeout time.Duration, compression bool, accept string) http.Header {
	encoding := "gzip"
	if !compression {
		encoding = "identity"
	}
	if accept == "" {
		accept = acceptHeader
	}
	return http.Header{
		"Accept":                              {accept},
		"Accept-Encoding":                     {encoding},
		"User-Agent":                          {UserAgent},
		"X-Prometheus-Scrape-Timeout-Seconds": {strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64)},
	}
}

// Sample is one scraped sample, with the target's labels applied.
type Sample struct {
	// Labels hold the metric name as __name__ and every label, the target's included. They are only valid
	// during Sink.Add.
	Labels Labels
	Value  float64
	// Timestamp is the sample's own, else the time the scrape started, in milliseconds since the epoch.
	Timestamp int64
	// Type is the type of the sample's metric family (counter, histogram, ...), unknown when not declared.
	Type model.MetricType
	// Family is the name of that family as its TYPE line gives it (h for h_bucket, c for an OpenMetrics
	// c_total), empty when no TYPE line names the sample's family.
	Family string
	// Synthetic marks the series added for every scrape (up, scrape_duration_seconds,
	// scrape_samples_scraped, scrape_samples_post_metric_relabeling, in that order, after the target's).
	Synthetic bool
}

// Labels are a sample's labels, sorted by name: a slice over buffers the scrape reuses, so that no sample
// pays for encoding them into labels.Labels.
type Labels []labels.Label

// Get returns the value of the label of that name, "" when there is none.
func (ls Labels) Get(name string) string {
	for _, l := range ls {
		if l.Name == name {
			return l.Value
		}
	}
	return ""
}

// duplicate returns a name that the labels, sorted by name, have twice.
func (ls Labels) duplicate() (string, bool) {
	for i := 1; i < len(ls); i++ {
		if ls[i].Name == ls[i-1].Name {
			return ls[i].Name, true
		}
	}
	return "", false
}

// Copy returns the labels as labels.Labels, which outlive the Sink.Add they came with.
func (ls Labels) Copy() labels.Labels { return labels.New(ls...) }

func (ls Labels) String() string { return ls.Copy().String() }

// sortLabels sorts labels by name as labels.ScratchBuilder does, so that both readers of the text format
// order even duplicate names alike.
func sortLabels(ls []labels.Label) {
	slices.SortFunc(ls, func(a, b labels.Label) int { return strings.Compare(a.Name, b.Name) })
}

// Sink receives the samples of scrapes. Each parse slot of a Run has its own, so a Sink is not shared.
type Sink interface {
	// Add receives one sample of target t of scraper s. An error refuses the sample as invalid, which
	// fails the scrape.
	Add(s *Scraper, t *Target, sample *Sample) error
	// Drop forgets the samples added since the last Flush: the scrape failed, and Prometheus keeps
	// nothing of a failed scrape.
	Drop()
	// Flush delivers the samples added since the last Flush; it ends every scrape.
	Flush()
}

// Run scrapes every due target of the scrapers, at most limit at once, each within its timeout, and returns
// when all are done.
//
// A scrape is a fetch, which mostly waits on the network, then a parse that hands the samples to a sink,
// which is CPU work and waits on whatever consumes the sink. Up to limit fetches run at once, but only as
// many parses as Go has processors, each with its worker and sink: a parse holds its scrape's output until
// the scrape ends, and one slot per fetch would hold limit of those at once, mostly waiting. newSink is
// called once per slot, on the caller's goroutine, before any scrape starts.
func Run(ctx context.Context, scrapers []*Scraper, now time.Time, limit int, newSink func() Sink) {
	<-start(ctx, scrapers, now, limit, newSink, nil)
}

// RunWithin is Run that waits at most wait (none: until all are done) and tells whether every scrape was
// done by then. Scrapes still running go on in the background and deliver into their own sinks as they
// end; done, when not nil, is called once the last has ended (the sinks are free then), before RunWithin
// returns or later on another goroutine. Until then their targets are not due (see Target.claim).
//
// A gather that waits for its slowest scrape lets one hanging target of a slow job hold every other job's
// next gather for that job's timeout; a gather that stops waiting at the bound (see WaitBound) does not.
func RunWithin(ctx context.Context, scrapers []*Scraper, now time.Time, limit int, wait time.Duration, newSink func() Sink, done func()) bool {
	finished := start(ctx, scrapers, now, limit, newSink, done)
	if wait <= 0 {
		<-finished
		return true
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-finished:
		return true
	case <-timer.C:
		return false
	}
}

// WaitBound is how long a gather waits for its scrapes: the shortest scrape-timeout among the scrapers that
// have targets. A scrape that is not done by then is late for that fastest job, whose own scrapes are done
// or timed out; waiting on for a slower job's would make the fastest miss its next interval. A job on its
// own, or beside jobs of the same timeout, is waited for as long as before. It is 0 when no scraper has a
// target.
func WaitBound(scrapers []*Scraper) time.Duration {
	var bound time.Duration
	for _, s := range scrapers {
		s.mu.Lock()
		n := len(s.list)
		s.mu.Unlock()
		if timeout := time.Duration(s.cfg.ScrapeTimeout); n > 0 && timeout > 0 && (bound == 0 || timeout < bound) {
			bound = timeout
		}
	}
	return bound
}

// start starts Run's scrapes and returns a channel closed once all have ended and done (when not nil) has
// been called.
func start(ctx context.Context, scrapers []*Scraper, now time.Time, limit int, newSink func() Sink, done func()) <-chan struct{} {
	type job struct {
		s *Scraper
		t *Target
	}
	var jobs []job
	for _, s := range scrapers {
		for _, t := range s.Targets() {
			if t.ScrapedHere() && t.claim(now) {
				jobs = append(jobs, job{s, t})
			}
		}
	}
	slots := make(chan *slot, min(runtime.GOMAXPROCS(0), len(jobs)))
	for range cap(slots) {
		slots <- &slot{worker: workers.Get().(*worker), sink: newSink()}
	}
	queue := make(chan job)
	var wg sync.WaitGroup
	for range min(max(limit, 1), len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := fetchers.Get().(*fetcher)
			defer fetchers.Put(f)
			for j := range queue {
				f.scrape(ctx, j.s, j.t, slots)
				j.t.release()
			}
		}()
	}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
	feed:
		for i, j := range jobs {
			select {
			case queue <- j:
			case <-ctx.Done(): // stopping: the scrapes not started are not started
				for _, j := range jobs[i:] {
					j.t.release()
				}
				break feed
			}
		}
		close(queue)
		wg.Wait()
		for range cap(slots) {
			workers.Put((<-slots).worker)
		}
		if done != nil {
			done()
		}
	}()
	return finished
}

// slot is one of the parses a Run lets run at once.
type slot struct {
	worker *worker
	sink   Sink
}

var (
	workers = sync.Pool{New: func() any {
		return &worker{lb: labels.NewBuilder(labels.EmptyLabels()), symbols: labels.NewSymbolTable(), digest: xxhash.New()}
	}}
	fetchers = sync.Pool{New: func() any { return &fetcher{} }}
)

// fetcher holds what a fetch reuses from one scrape to the next.
type fetcher struct{ body []byte }

// worker holds what a scrape reuses from one scrape to the next.
type worker struct {
	body       []byte // the body being parsed
	compressed bytes.Reader
	gzip       *gzip.Reader
	inflated   []byte
	symbols    *labels.SymbolTable
	lb         *labels.Builder
	unescaped  []byte
	families   map[string]string
	parsed     []labels.Label // the labels as parsed
	merged     []labels.Label // the sample's labels, with the target's
	ptmp       labels.Labels  // the labels as textparse gives them
	conflicts  []labels.Label
	scratch    labels.ScratchBuilder // the parsed labels as labels.Labels, for withTarget
	sample     Sample
	// digest hashes a series' labels for series-limit, and seriesDropped counts the scrape's samples of
	// series it dropped.
	digest        *xxhash.Digest
	seriesDropped int
	// bodyBytes is the size of the scrape's body, for extra-scrape-metrics (extrametrics.go).
	bodyBytes int
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
	// The scrape's deadline (zero: none) and timeout, and the context that is done when the scrapes stop.
	deadline time.Time
	timeout  time.Duration
	ctx      context.Context
	// What native histograms reuse (native.go): the histogram as floats, its classic buckets, a series'
	// labels, and the names and le values made so far.
	fh        *histogram.FloatHistogram
	bounds    []bound
	native    []labels.Label
	histNames map[string]nativeNames
	les       map[float64]string
}

// scrape fetches the target's body, then takes a slot to inflate and parse it in. The scrape timeout covers
// all three, measured as the scrape's duration is: without the wait for the slot. A scrape cut short
// because ctx is done (the plugin is stopping) reports nothing.
func (f *fetcher) scrape(ctx context.Context, s *Scraper, t *Target, slots chan *slot) {
	start := time.Now()
	// A scraper over its target-limit fetches nothing: its targets report the error, up = 0 and no samples.
	var contentType string
	var gzipped bool
	err := s.targetLimitErr()
	if err == nil {
		fetchCtx, cancel := context.WithTimeout(ctx, t.Timeout)
		contentType, gzipped, err = f.fetch(fetchCtx, s, t)
		cancel()
	}
	duration := time.Since(start)
	if err != nil && ctx.Err() != nil {
		return
	}

	slot := <-slots
	parsed := time.Now()
	w, sink := slot.worker, slot.sink
	w.deadline, w.timeout, w.ctx = parsed.Add(t.Timeout-duration), t.Timeout, ctx
	samples, kept := 0, 0
	w.seriesDropped = 0
	if s.cfg.SeriesLimit > 0 {
		t.series.startScrape(start)
	}
	if err == nil {
		w.body, err = w.inflate(f.body, gzipped, s.cfg.BodySizeLimit)
	}
	w.bodyBytes = bodyBytes(w.body, err)
	if err == nil {
		samples, kept, err = w.safeParse(s, t, contentType, start.UnixMilli(), sink)
	}
	seriesDropped := w.seriesDropped
	w.body, w.deadline, w.ctx = nil, time.Time{}, nil
	duration += time.Since(parsed)
	if err != nil {
		sink.Drop() // kept still counts the samples taken before the failure, as Prometheus reports them
	}
	if err != nil && ctx.Err() != nil {
		sink.Flush()
		slots <- slot
		return
	}
	if serr := w.synthetic(s, t, sink, start.UnixMilli(), err == nil, duration, samples, kept); serr != nil && err == nil {
		sink.Drop() // the sink refuses the target's own labels: nothing of it can be written
		err = serr
	}
	sink.Flush()
	slots <- slot

	s.stats.Scrapes.Add(1)
	s.stats.Samples.Add(uint64(samples))
	s.stats.DurationNano.Add(uint64(duration))
	s.stats.SeriesDropped.Add(uint64(seriesDropped))
	health := Health{Up: err == nil, LastScrape: start, Duration: duration, Samples: samples, SeriesDropped: seriesDropped}
	if err != nil {
		s.stats.Errors.Add(1)
		// What a target sent (a line of its body, its reason phrase) reaches the error short and escaped.
		health.LastError = safetext.Error(err, MaxErrorLen)
		s.failures.write(s.logger, t, health.LastError)
	}
	before := t.Health()
	t.report(health)
	// Logged once per change of state: when a target fails, when its error changes, and when it recovers.
	switch {
	case err != nil && before.LastError != health.LastError:
		s.logger.Warn("scrape failed", "target", httpconfig.RedactURL(t.URL), "err", health.LastError)
	case err == nil && before.LastError != "":
		s.logger.Info("scrape recovered", "target", httpconfig.RedactURL(t.URL))
	}
}

// MaxErrorLen bounds a target's last error, in bytes.
const MaxErrorLen = 1024

// fetch reads the target's body into f.body as it came, gzip-compressed or not, and returns its
// Content-Type and whether it is compressed: a body waiting for a parse slot takes no more memory than it
// took on the wire, and is inflated in the slot.
func (f *fetcher) fetch(ctx context.Context, s *Scraper, t *Target) (contentType string, gzipped bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL, nil)
	if err != nil {
		// The URL does not parse (an __address__ with userinfo): the parser's error quotes it, password and all.
		return "", false, httpconfig.URLError(t.URL, err)
	}
	req.Header = s.header
	resp, err := s.client.Do(req)
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return "", false, fmt.Errorf("server returned HTTP status %s", resp.Status)
	}
	// A compressed body is limited too: it is never larger than what it inflates to but for gzip's few
	// bytes of framing, so the limit on inflated bytes (in inflate) decides all but such edge cases.
	limit := int64(s.cfg.BodySizeLimit)
	if limit > 0 && resp.ContentLength > limit {
		return "", false, fmt.Errorf("%w of %d bytes exceeded: Content-Length is %d", errBodySizeLimit, limit, resp.ContentLength)
	}
	if f.body, err = readLimited(f.body, resp.Body, limit, resp.ContentLength, nil); err != nil {
		return "", false, err
	}
	return resp.Header.Get("Content-Type"), resp.Header.Get("Content-Encoding") == "gzip", nil
}

// inflate returns the body to parse: raw, or raw inflated into w.inflated when it is gzip-compressed. It
// fails once the scrape's deadline has passed.
func (w *worker) inflate(raw []byte, gzipped bool, limit config.Size) ([]byte, error) {
	if !gzipped {
		return raw, nil
	}
	w.compressed.Reset(raw)
	var err error
	if w.gzip == nil {
		w.gzip, err = gzip.NewReader(&w.compressed)
	} else {
		err = w.gzip.Reset(&w.compressed)
	}
	if err != nil {
		return nil, fmt.Errorf("gzip body: %w", err)
	}
	// The limit counts uncompressed bytes, so it also stops a gzip bomb; the deadline is looked at after
	// every read, each at most a window of gzip's (32 KiB).
	w.inflated, err = readLimited(w.inflated, w.gzip, int64(limit), -1, w)
	if err != nil {
		return nil, err
	}
	return w.inflated, nil
}

// checkEvery is how many lines or entries a parse reads between two looks at its deadline when it does not
// relabel: some tens of microseconds' worth, so that a scrape overruns its timeout by little (a sink that
// blocks included), for a clock read per checkEvery samples. A scraper with metric-relabel-configs looks
// after every line, since one costly rule on every sample can take longer than the whole body's parse.
// Both readers look once more after the last line.
const checkEvery = 256

// due tells whether a parse looks at its deadline before its nth line or entry.
func due(n int, relabels bool) bool { return relabels || n%checkEvery == 0 }

// readProgress is the check readLimited makes while inflating.
func (w *worker) readProgress(n int) error { return w.overrun("inflating", n, "bytes") }

// overrun fails a scrape whose deadline has passed or whose context is done, saying what it was doing and
// how far it got (n units).
func (w *worker) overrun(doing string, n int, units string) error {
	if w.ctx != nil && w.ctx.Err() != nil {
		return fmt.Errorf("scrape stopped while %s after %d %s: %w", doing, n, units, w.ctx.Err())
	}
	if !w.deadline.IsZero() && time.Now().After(w.deadline) {
		return fmt.Errorf("scrape timeout of %s exceeded while %s after %d %s", w.timeout, doing, n, units)
	}
	return nil
}

// minRead is the room readLimited makes before a read: the first allocation of an empty buffer.
const minRead = 32 << 10

// readLimited reads r to its end into buf[:0] and returns it, failing once it holds more than limit bytes
// (limit <= 0: no limit). The buffer doubles as it fills but never grows past limit+1 bytes, so that a body
// cut off at the limit has cost at most that buffer and the one it grew from; size, when known (>= 0),
// sizes it at once. progress, when not nil, checks the bytes read so far after each read.
func readLimited(buf []byte, r io.Reader, limit, size int64, progress interface{ readProgress(n int) error }) ([]byte, error) {
	most := int64(math.MaxInt)
	if limit > 0 {
		most = limit + 1
	}
	buf = buf[:0]
	if size >= 0 && int64(cap(buf)) <= size {
		buf = make([]byte, 0, min(size+1, most)) // +1: room to read the end of the body
	}
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= most {
				break
			}
			n := max(2*int64(cap(buf)), minRead)
			if n >= most-1 {
				n = most // not the limit itself: a body of exactly the limit would grow once more to end
			}
			grown := make([]byte, len(buf), n)
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return buf, fmt.Errorf("reading body after %d bytes: %w", len(buf), err)
		}
		if progress != nil {
			if err := progress.readProgress(len(buf)); err != nil {
				return buf, err
			}
		}
	}
	if limit > 0 && int64(len(buf)) > limit {
		return buf, fmt.Errorf("%w of %d bytes exceeded", errBodySizeLimit, limit)
	}
	return buf, nil
}

// parserOptions are textparse's options for every scrape; parserOptionsFor (native.go) sets a scraper's
// native histograms.
var parserOptions = textparse.ParserOptions{
	// Classic buckets, not native histograms, unless the scraper asks for them.
	IgnoreNativeHistograms: true,
	// An unknown or missing Content-Type is read as the text format, as Prometheus did for years.
	FallbackContentType: "text/plain",
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

// admit gives the labels of the sample of w.parsed (a series, or a native histogram) as add writes them, and
// their metric name: keep is false when metric relabeling drops it. It fails the scrape as Prometheus does
// for the sample: a label or sample limit broken, an invalid name, a label name twice. kept counts it.
func (w *worker) admit(s *Scraper, t *Target, kept *int) (lset Labels, name string, keep bool, err error) {
	cfg := s.cfg
	// The bound comes before anything encodes the labels (withTarget, relabeling), and again after
	// relabeling, which can make a value longer.
	if err := checkBound(w.parsed); err != nil {
		return nil, "", false, w.lineError(err)
	}
	lset, keep, err = w.sampleLabels(t, s)
	if err != nil {
		return nil, "", false, w.lineError(err)
	}
	if !keep || len(lset) == 0 {
		return nil, "", false, nil
	}
	name = lset.Get(model.MetricNameLabel)
	if name == "" {
		return nil, "", false, w.lineError(fmt.Errorf("missing metric name (%s label)", model.MetricNameLabel))
	}
	if err := checkBound(lset); err != nil {
		return nil, "", false, w.lineError(err)
	}
	if w.checkNames && !validNames(name, lset) {
		// labels.String quotes what needs it; the cut keeps a label set of a megabyte short.
		return nil, "", false, w.lineError(fmt.Errorf("invalid metric name or label names: %s", safetext.Line(lset.String(), 2*safetext.Excerpt)))
	}
	if err := checkLabelLimits(cfg, lset); err != nil {
		return nil, "", false, w.lineError(err)
	}
	if cfg.SampleLimit > 0 && *kept >= cfg.SampleLimit {
		return nil, "", false, fmt.Errorf("sample limit of %d exceeded", cfg.SampleLimit)
	}
	// As in Prometheus' storage, a label name still there twice refuses the sample, which fails the scrape
	// (and InfluxDB would refuse a point with a tag key twice).
	if label, dup := lset.duplicate(); dup {
		return nil, "", false, w.lineError(fmt.Errorf("%s: label name %s is not unique: invalid sample", safetext.QuoteExcerpt(name), safetext.QuoteExcerpt(label)))
	}
	// As vmagent's series limit: a series new in the window past the limit is dropped and counted, the
	// scrape goes on. Known series still pass.
	if cfg.SeriesLimit > 0 && !t.series.admit(w.seriesHash(lset), cfg.SeriesLimit) {
		w.seriesDropped++
		return nil, "", false, nil
	}
	*kept++
	return lset, name, true, nil
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

// validNames tells whether Prometheus' UTF-8 validation takes a series' names: UTF-8, and no label name
// empty.
func validNames(name string, lset Labels) bool {
	if !utf8.ValidString(name) {
		return false
	}
	for _, l := range lset {
		if l.Name == "" || !utf8.ValidString(l.Name) {
			return false
		}
	}
	return true
}

// checkLabelLimits fails a scrape whose series break label-limit, label-name-length-limit or
// label-value-length-limit, as Prometheus does.
func checkLabelLimits(cfg *Config, lset Labels) error {
	if cfg.LabelLimit > 0 && len(lset) > cfg.LabelLimit {
		return fmt.Errorf("label limit of %d exceeded by %s (%d labels)", cfg.LabelLimit, safetext.QuoteExcerpt(lset.Get(model.MetricNameLabel)), len(lset))
	}
	for _, l := range lset {
		if cfg.LabelNameLengthLimit > 0 && len(l.Name) > cfg.LabelNameLengthLimit {
			return fmt.Errorf("label name length limit of %d exceeded by %s label %s", cfg.LabelNameLengthLimit, safetext.QuoteExcerpt(lset.Get(model.MetricNameLabel)), safetext.QuoteExcerpt(l.Name))
		}
		if cfg.LabelValueLengthLimit > 0 && len(l.Value) > cfg.LabelValueLengthLimit {
			return fmt.Errorf("label value length limit of %d exceeded by %s label %s", cfg.LabelValueLengthLimit, safetext.QuoteExcerpt(lset.Get(model.MetricNameLabel)), safetext.QuoteExcerpt(l.Name))
		}
	}
	return nil
}

// lineError says which line of the body err is about, when that is known.
func (w *worker) lineError(err error) error {
	if w.line < 0 {
		return err
	}
	return fmt.Errorf("line at byte offset %d: %w", w.line, err)
}

// familyName returns the family name as a string, allocated once per name and worker, not once per scrape.
func (w *worker) familyName(name []byte) string {
	if f, ok := w.families[string(name)]; ok {
		return f
	}
	if w.families == nil || len(w.families) > 1<<14 {
		w.families = make(map[string]string)
	}
	f := string(name)
	w.families[f] = f
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

// sampleLabels returns the parsed labels with the target's applied and metric relabeling done, as
// Prometheus' mutateSampleLabels has them; keep is false when relabeling dropped the sample. A name may
// still be there twice (exposed twice, and kept so), for add to refuse. The common case, no metric
// relabeling and no exposed value that a target label displaces, is a merge of two sorted lists into a
// buffer reused from sample to sample: no allocation.
func (w *worker) sampleLabels(t *Target, s *Scraper) (lset Labels, keep bool, err error) {
	if len(s.metricRelabel) == 0 && w.mergeSorted(t, s.cfg.HonorLabels) {
		return w.merged, true, nil
	}
	w.withTarget(t, s.cfg.HonorLabels)
	if len(s.metricRelabel) > 0 && !relabel.ProcessBuilder(w.lb, s.metricRelabel...) {
		return nil, false, nil
	}
	// Relabeling can make a value longer (16 copies of a 1 MiB value), and builderLabels encodes the
	// builder's labels: the bound is checked on the builder, which holds them unencoded. A value of exactly
	// 16 MiB does not panic the encoding but is encoded with a size of 0, its bytes then read back as
	// labels of the target's choosing; checked after the encoding, the bound would see those.
	if err := checkBuilderBound(w.lb); err != nil {
		return nil, false, err
	}
	return w.builderLabels(), true, nil
}

// mergeSorted merges the parsed labels and the target's, both sorted by name, into w.merged, with the
// result of mutateSampleLabels. As Prometheus' labels.Builder does, a name exposed with an empty value
// anywhere is dropped with all its values; it still counts as exposed for honor-labels, so the target's
// value does not replace it. mergeSorted gives up when a target label displaces an exposed value (without
// honor-labels), leaving the exported_ renaming to withTarget.
func (w *worker) mergeSorted(t *Target, honor bool) bool {
	merged, target, parsed := w.merged[:0], t.labelList, w.parsed
	i := 0
	for j := 0; j < len(parsed); {
		// parsed[j:k] are the values of one name.
		name, empty, k := parsed[j].Name, false, j
		for ; k < len(parsed) && parsed[k].Name == name; k++ {
			empty = empty || parsed[k].Value == ""
		}
		for i < len(target) && target[i].Name < name {
			merged = append(merged, target[i])
			i++
		}
		if i < len(target) && target[i].Name == name {
			switch {
			case honor:
			case parsed[j].Value == "": // no conflict: mutateSampleLabels looks at the first value only
				merged = append(merged, target[i])
				empty = true
			default:
				return false
			}
			i++
		}
		if !empty {
			merged = append(merged, parsed[j:k]...)
		}
		j = k
	}
	merged = append(merged, target[i:]...)
	w.merged = merged
	return true
}

// withTarget puts the parsed labels with the target's into w.lb, as Prometheus' mutateSampleLabels does:
// without honor-labels the target's win and a scraped label they displace is kept as exported_<name>; with
// it, the scraped labels win. The builder starts from the parsed labels as they are, empty values and
// names twice included, as Prometheus' starts from the parser's.
func (w *worker) withTarget(t *Target, honor bool) {
	w.scratch.Reset()
	for _, l := range w.parsed {
		w.scratch.Add(l.Name, l.Value)
	}
	parsed := w.scratch.Labels()
	w.lb.Reset(parsed)
	if honor {
		for _, l := range t.labelList {
			if !parsed.Has(l.Name) {
				w.lb.Set(l.Name, l.Value)
			}
		}
		return
	}
	w.conflicts = w.conflicts[:0]
	for _, l := range t.labelList {
		if v := parsed.Get(l.Name); v != "" {
			w.conflicts = append(w.conflicts, labels.Label{Name: l.Name, Value: v})
		}
		w.lb.Set(l.Name, l.Value)
	}
	slices.SortStableFunc(w.conflicts, func(a, b labels.Label) int { return len(a.Name) - len(b.Name) })
	for _, l := range w.conflicts {
		name := l.Name
		for {
			name = model.ExportedLabelPrefix + name
			if w.lb.Get(name) == "" {
				w.lb.Set(name, l.Value)
				break
			}
		}
	}
}

// builderLabels are w.lb's labels, in w.merged, as Builder.Labels gives them (which, unlike Builder.Range,
// keeps a second label of a name that was set).
func (w *worker) builderLabels() Labels {
	w.merged = w.merged[:0]
	w.lb.Labels().Range(w.appendMerged)
	return w.merged
}

// appendMerged appends a label to w.merged: the Range callback of builderLabels.
func (w *worker) appendMerged(l labels.Label) { w.merged = append(w.merged, l) }

// appendParsed appends a label to w.parsed: the Range callback for textparse's labels.
func (w *worker) appendParsed(l labels.Label) { w.parsed = append(w.parsed, l) }

// synthetic adds the series Prometheus adds for every scrape; an error is the sink's refusal of one.
func (w *worker) synthetic(s *Scraper, t *Target, sink Sink, now int64, up bool, duration time.Duration, samples, kept int) error {
	upValue := 0.0
	if up {
		upValue = 1
	}
	for _, m := range []syntheticSample{
		{"up", upValue},
		{"scrape_duration_seconds", duration.Seconds()},
		{"scrape_samples_scraped", float64(samples)},
		{"scrape_samples_post_metric_relabeling", float64(kept)},
	} {
		if err := w.addSynthetic(s, t, sink, now, m); err != nil {
			return err
		}
	}
	return w.extraSynthetic(s, t, sink, now)
}

// syntheticSample is a series added for every scrape of a target, with its value.
type syntheticSample struct {
	name  string
	value float64
}

// addSynthetic hands one synthetic sample, with the target's labels, to the sink.
func (w *worker) addSynthetic(s *Scraper, t *Target, sink Sink, now int64, m syntheticSample) error {
	w.merged = append(append(w.merged[:0], labels.Label{Name: model.MetricNameLabel, Value: m.name}), t.labelList...)
	sortLabels(w.merged)
	w.sample = Sample{Labels: w.merged, Value: m.value, Timestamp: now, Type: model.MetricTypeGauge, Synthetic: true}
	return sink.Add(s, t, &w.sample)
}

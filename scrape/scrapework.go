package scrape

// One scrape of one target: fetch (fetch.go), inflate and parse (parse.go) in a parse slot, the synthetic
// series (synthetic.go), and the target's health. The worker that a parse slot lends it is declared here,
// its parts with their stages.

import (
	"context"
	"fmt"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
	"github.com/discovering-prometheus/discovering-prometheus/internal/safetext"
)

// worker holds what a scrape reuses from one scrape to the next, in one part per stage, each declared
// with its stage: the deadline here, inflating (fetch.go), reading the body (parse.go), the sample's
// labels (labels.go), series-limit (limits.go) and native histograms (native.go).
type worker struct {
	budget
	inflater
	reader
	labeler
	limiter
	histograms
	sample Sample // what the sink is handed, reused from sample to sample
}

// newWorker is a worker ready for its first scrape.
func newWorker() *worker {
	return &worker{
		reader:  reader{symbols: labels.NewSymbolTable()},
		labeler: labeler{lb: labels.NewBuilder(labels.EmptyLabels())},
		limiter: limiter{digest: xxhash.New()},
	}
}

// endScrape lets go of what the scrape lent the worker, and of the buffers a hostile body grew too large
// to keep for the next scrape.
func (w *worker) endScrape() {
	w.budget = budget{}
	w.reader.release()
	w.labeler.release()
}

// budget is what a scrape may still spend: its deadline (zero: none) and timeout, and the context that
// is done when the scrapes stop.
type budget struct {
	deadline time.Time
	timeout  time.Duration
	ctx      context.Context
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
	w.endScrape()
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

// checkEvery is how many lines or entries a parse reads between two looks at its deadline when it does not
// relabel: some tens of microseconds' worth, so that a scrape overruns its timeout by little (a sink that
// blocks included), for a clock read per checkEvery samples. A scraper with metric-relabel-configs looks
// after every line, since one costly rule on every sample can take longer than the whole body's parse.
// Both readers look once more after the last line.
const checkEvery = 256

// due tells whether a parse looks at its deadline before its nth line or entry.
func due(n int, relabels bool) bool { return relabels || n%checkEvery == 0 }

// readProgress is the check readLimited makes while inflating.
func (b *budget) readProgress(n int) error { return b.overrun("inflating", n, "bytes") }

// overrun fails a scrape whose deadline has passed or whose context is done, saying what it was doing and
// how far it got (n units).
func (b *budget) overrun(doing string, n int, units string) error {
	if b.ctx != nil && b.ctx.Err() != nil {
		return fmt.Errorf("scrape stopped while %s after %d %s: %w", doing, n, units, b.ctx.Err())
	}
	if !b.deadline.IsZero() && time.Now().After(b.deadline) {
		return fmt.Errorf("scrape timeout of %s exceeded while %s after %d %s", b.timeout, doing, n, units)
	}
	return nil
}

package scrape

import (
	"fmt"
	"math"
	"strconv"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/textparse"
)

// Native histograms (scrape-native-histograms, a job's scrape_native_histograms) are written as the classic
// series they are equal to: a cumulative _bucket sample with an le for every bound of a populated bucket
// (negative buckets, the zero bucket, positive buckets, in ascending order), le="+Inf" holding the count,
// then _count and _sum. Queries written for classic histograms work on them unchanged, and every metric
// format handles them as it handles a classic histogram. The bucket bounds are those of Prometheus' own
// histogram types; nothing of the schema math is done here.

// nativeOptions are the parser's options and the resolution limits of a scraper that scrapes native
// histograms.
type nativeOptions struct {
	// bucketLimit is native-histogram-bucket-limit: a histogram with more buckets has its resolution
	// reduced until it has no more, as Prometheus' bucketLimitAppender does. 0: no limit.
	bucketLimit int
	// maxSchema is the finest schema native-histogram-min-bucket-factor allows (Prometheus' pickSchema).
	maxSchema int32
}

// newNativeOptions are the options of cfg's native histograms.
func newNativeOptions(cfg *Config) nativeOptions {
	return nativeOptions{bucketLimit: cfg.NativeHistogramBucketLimit, maxSchema: pickSchema(cfg.NativeHistogramMinBucketFactor)}
}

// parserOptionsFor are textparse's options for a scraper of cfg: native histograms are parsed when the
// scraper asks for them, and a histogram that has classic buckets too has them kept with
// always-scrape-classic-histograms.
func parserOptionsFor(cfg *Config) textparse.ParserOptions {
	opts := parserOptions
	opts.IgnoreNativeHistograms = !cfg.ScrapeNativeHistograms
	opts.KeepClassicOnClassicAndNativeHistograms = cfg.ScrapeNativeHistograms && cfg.AlwaysScrapeClassicHistograms
	return opts
}

// pickSchema is Prometheus' pickSchema (scrape/scrape.go): the largest schema whose bucket factor is at
// least bucketFactor; a factor of 1 or less allows every schema.
func pickSchema(bucketFactor float64) int32 {
	if bucketFactor <= 1 {
		bucketFactor = 1.00271
	}
	floor := math.Floor(-math.Log2(math.Log2(bucketFactor)))
	switch {
	case floor >= float64(histogram.ExponentialSchemaMax):
		return histogram.ExponentialSchemaMax
	case floor <= float64(histogram.ExponentialSchemaMin):
		return histogram.ExponentialSchemaMin
	default:
		return int32(floor)
	}
}

// limitResolution reduces fh's resolution as Prometheus' scrape loop does: first to the schema the minimum
// bucket factor allows (maxSchemaAppender), then one schema at a time until it has at most bucketLimit
// buckets (bucketLimitAppender). A histogram that cannot get under the limit (custom buckets, or the
// coarsest schema reached) fails the scrape, as it does in Prometheus.
func (o nativeOptions) limitResolution(fh *histogram.FloatHistogram) error {
	if histogram.IsExponentialSchemaReserved(fh.Schema) && fh.Schema > o.maxSchema {
		if err := fh.ReduceResolution(o.maxSchema); err != nil {
			return err
		}
	}
	if o.bucketLimit <= 0 {
		return nil
	}
	for len(fh.PositiveBuckets)+len(fh.NegativeBuckets) > o.bucketLimit {
		if !histogram.IsExponentialSchema(fh.Schema) || fh.Schema <= histogram.ExponentialSchemaMin {
			return fmt.Errorf("histogram bucket limit of %d exceeded", o.bucketLimit)
		}
		if err := fh.ReduceResolution(fh.Schema - 1); err != nil {
			return err
		}
	}
	return nil
}

// bound is one cumulative bucket of a classic expansion: the count of observations up to le.
type bound struct {
	le, count float64
}

// classicBuckets appends to out fh's cumulative buckets, ascending, ending with le=+Inf: for an exponential
// histogram the lower and upper bound of every populated bucket (a lower bound only where it is not the
// bound before, so that a classic quantile interpolates within the very bucket a native one does), for
// custom buckets (NHCB) every bound, as the classic histogram it came from had them.
func classicBuckets(fh *histogram.FloatHistogram, out []bound) []bound {
	var cum float64
	if fh.UsesCustomBuckets() {
		it := fh.PositiveBucketIterator()
		more := it.Next()
		for i, le := range fh.CustomValues {
			for ; more && int(it.At().Index) <= i; more = it.Next() {
				cum += it.At().Count
			}
			out = append(out, bound{le, cum})
		}
		for ; more; more = it.Next() {
			cum += it.At().Count
		}
	} else {
		it := fh.AllBucketIterator()
		for it.Next() {
			b := it.At()
			if b.Count == 0 {
				continue
			}
			if n := len(out); n == 0 || b.Lower > out[n-1].le {
				if !math.IsInf(b.Lower, -1) {
					out = append(out, bound{b.Lower, cum})
				}
			}
			cum += b.Count
			if n := len(out); n > 0 && b.Upper <= out[n-1].le {
				// A bucket inside the one before (a positive bucket under the zero threshold): its
				// observations count at the bound already written.
				out[n-1].count = cum
				continue
			}
			out = append(out, bound{b.Upper, cum})
		}
	}
	// The +Inf bucket holds every observation, as a classic histogram's does: its count.
	total := max(cum, fh.Count)
	if n := len(out); n > 0 && math.IsInf(out[n-1].le, 1) {
		out[n-1].count = total
	} else {
		out = append(out, bound{math.Inf(1), total})
	}
	return out
}

// histograms is what native histograms reuse: the histogram as floats, its classic buckets, a series'
// labels, and the names and le values made so far.
type histograms struct {
	fh        *histogram.FloatHistogram
	bounds    []bound
	native    []labels.Label
	histNames map[string]nativeNames
	les       map[float64]string
}

// nativeNames are the names of a histogram's classic series.
type nativeNames struct{ bucket, count, sum string }

// histogram hands the native histogram of parser p's current entry to sink as its classic series. It counts
// as one sample, as in Prometheus (sample_limit, scrape_samples_scraped); metric relabeling sees it under
// the histogram's name, as Prometheus' does.
func (w *worker) histogram(p textparse.Parser, s *Scraper, t *Target, now int64, kept *int, sink Sink) error {
	_, ts, h, fh := p.Histogram()
	p.Labels(&w.ptmp)
	w.parsed = w.parsed[:0]
	w.ptmp.Range(w.appendParsed)
	if ts == nil || !isTrue(s.cfg.HonorTimestamps) {
		ts = &now
	}
	if h != nil {
		fh = h.ToFloat(w.fh) // the parser made h for this entry: w.fh is reused from one to the next
		w.fh = fh
	}
	if err := s.native.limitResolution(fh); err != nil {
		return w.lineError(fmt.Errorf("%s: %w", Labels(w.parsed).Get("__name__"), err))
	}
	lset, name, keep, err := w.admit(s, t, kept)
	if !keep || err != nil {
		return err
	}
	if lset.Get("le") != "" {
		return w.lineError(fmt.Errorf("%s: native histogram with a label le, which its classic buckets need", name))
	}
	names := w.nativeNames(name)
	w.bounds = classicBuckets(fh, w.bounds[:0])
	// The series' labels: lset with the name replaced, and le in its place by name for the buckets.
	at := 0
	for at < len(lset) && lset[at].Name < "le" {
		at++
	}
	for _, b := range w.bounds {
		w.native = append(append(append(w.native[:0], lset[:at]...), labels.Label{Name: "le", Value: w.leValue(b.le)}), lset[at:]...)
		if err := w.deliverNative(s, t, names.bucket, b.count, *ts, sink); err != nil {
			return err
		}
	}
	w.native = append(w.native[:0], lset...)
	if err := w.deliverNative(s, t, names.count, fh.Count, *ts, sink); err != nil {
		return err
	}
	return w.deliverNative(s, t, names.sum, fh.Sum, *ts, sink)
}

// deliverNative delivers w.native renamed to name.
func (w *worker) deliverNative(s *Scraper, t *Target, name string, value float64, ts int64, sink Sink) error {
	for i := range w.native {
		if w.native[i].Name == "__name__" {
			w.native[i].Value = name
		}
	}
	return w.deliver(s, t, w.native, name, value, ts, sink)
}

// nativeNames returns the classic series' names of histogram name, made once per name and worker.
func (w *worker) nativeNames(name string) nativeNames {
	if n, ok := w.histNames[name]; ok {
		return n
	}
	if w.histNames == nil || len(w.histNames) > 1<<14 {
		w.histNames = make(map[string]nativeNames)
	}
	n := nativeNames{name + "_bucket", name + "_count", name + "_sum"}
	w.histNames[name] = n
	return n
}

// leValue returns the le label value of a bound, spelled as Go's fmt.Sprint spells it (Kapacitor's
// spelling, which the formats write), made once per bound and worker: a schema has few bounds.
func (w *worker) leValue(le float64) string {
	if v, ok := w.les[le]; ok {
		return v
	}
	if w.les == nil || len(w.les) > 1<<14 {
		w.les = make(map[float64]string)
	}
	v := strconv.FormatFloat(le, 'g', -1, 64)
	w.les[le] = v
	return v
}

package scrape

import (
	"math"
	"testing"

	"github.com/prometheus/prometheus/model/histogram"
)

// fuzzHistogram makes a valid float histogram of Prometheus' own type from fuzzed bytes: an exponential
// one (schema -4 to 8, a zero bucket of one of four thresholds, a negative and a positive span) or, with
// custom set, one of custom buckets (NHCB) with ascending bounds.
func fuzzHistogram(data []byte, custom bool) *histogram.FloatHistogram {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	counts := func(n int) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = float64(next() % 8)
		}
		return out
	}
	sum := func(cs []float64) (s float64) {
		for _, c := range cs {
			s += c
		}
		return s
	}
	if custom {
		n := int(next()%6) + 1
		bounds := make([]float64, n)
		le := -2.0
		for i := range bounds {
			le += float64(next()%5+1) / 4
			bounds[i] = le
		}
		buckets := counts(n + 1) // the last is the +Inf bucket
		return &histogram.FloatHistogram{Schema: histogram.CustomBucketsSchema, CustomValues: bounds,
			PositiveSpans: []histogram.Span{{Offset: 0, Length: uint32(n + 1)}}, PositiveBuckets: buckets, Count: sum(buckets)}
	}
	h := &histogram.FloatHistogram{
		Schema:        int32(next()%13) - 4,
		ZeroThreshold: []float64{0, 1e-3, 0.5, 2}[next()%4],
	}
	if h.ZeroThreshold > 0 {
		h.ZeroCount = float64(next() % 8)
	}
	pos, neg := counts(int(next()%6)), counts(int(next()%6))
	if len(pos) > 0 {
		h.PositiveSpans, h.PositiveBuckets = []histogram.Span{{Offset: int32(int8(next())) / 8, Length: uint32(len(pos))}}, pos
	}
	if len(neg) > 0 {
		h.NegativeSpans, h.NegativeBuckets = []histogram.Span{{Offset: int32(int8(next())) / 8, Length: uint32(len(neg))}}, neg
	}
	h.Count = h.ZeroCount + sum(pos) + sum(neg) + float64(next()%2) // a NaN observation counts, in no bucket
	return h
}

// FuzzClassicBuckets is a differential fuzz of the classic expansion of native histograms: for any valid
// histogram of Prometheus' type, each of our le carries the count of the buckets whose upper bound is at
// most le, as Prometheus' own bucket iterators give them; no populated bucket's bound is lost (between it
// and the next le of ours lies no other bucket's); the le ascend and end with +Inf, which holds the count.
func FuzzClassicBuckets(f *testing.F) {
	f.Add([]byte{4, 1, 3, 3, 2, 1, 2, 3, 250, 1, 2, 5, 7, 1}, false)
	f.Add([]byte{0, 2, 5, 5, 5, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0}, false) // a zero bucket over small buckets
	f.Add([]byte{12, 3, 2, 0, 0, 7, 7, 128, 7, 1}, false)
	f.Add([]byte{3, 1, 2, 3, 4, 5, 6, 7, 1, 0}, true)
	f.Fuzz(func(t *testing.T, data []byte, custom bool) {
		h := fuzzHistogram(data, custom)
		if err := h.Validate(); err != nil {
			t.Skip(err)
		}
		type bucket struct{ upper, count float64 }
		var all []bucket
		for it := h.AllBucketIterator(); it.Next(); {
			b := it.At()
			// Prometheus merges the buckets that reach into the zero bucket into it when it widens the
			// threshold: histograms with such buckets are not made, and their iterator's bounds are the
			// threshold's, not theirs.
			if zero := b.Lower == -h.ZeroThreshold && b.Upper == h.ZeroThreshold; !zero && b.Count > 0 &&
				math.Min(math.Abs(b.Lower), math.Abs(b.Upper)) < h.ZeroThreshold {
				t.Skip("a bucket reaches into the zero bucket")
			}
			if b.Count > 0 {
				all = append(all, bucket{b.Upper, b.Count})
			}
		}
		upTo := func(le float64) (n float64) {
			for _, b := range all {
				if b.upper <= le {
					n += b.count
				}
			}
			return n
		}
		got := classicBuckets(h, nil)
		last := got[len(got)-1]
		if !math.IsInf(last.le, 1) || last.count != h.Count {
			t.Fatalf("%v: the last bound is %v with %v, not +Inf with the count %v", h, last.le, last.count, h.Count)
		}
		for i, b := range got {
			if i > 0 && b.le <= got[i-1].le {
				t.Fatalf("%v: le %v after %v", h, b.le, got[i-1].le)
			}
			if want := upTo(b.le); !math.IsInf(b.le, 1) && b.count != want {
				t.Fatalf("%v: le %v counts %v, Prometheus' buckets %v (ours: %v)", h, b.le, b.count, want, got)
			}
		}
		for _, b := range all {
			if math.IsInf(b.upper, 1) {
				continue
			}
			i := 0
			for got[i].le < b.upper {
				i++
			}
			if upTo(got[i].le) != upTo(b.upper) {
				t.Fatalf("%v: the bucket up to %v is lost in le %v (ours: %v)", h, b.upper, got[i].le, got)
			}
		}
	})
}

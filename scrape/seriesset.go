package scrape

// SeriesSet is series-limit's table of series hashes for other bounds on series (the plugin's
// max_series_per_db): 16 bytes a series at 1M (BenchmarkSeriesSet), whatever the series' size. The zero
// value is empty; it is not safe for concurrent use.
type SeriesSet struct{ set seriesSet }

// Admit tells whether the series of that hash may be written: it is known, or there is room for it under
// limit, and then it is known from now on.
func (s *SeriesSet) Admit(hash uint64, limit int) bool { return s.set.admit(hash, limit) }

// Len is how many series the set holds.
func (s *SeriesSet) Len() int { return s.set.n }

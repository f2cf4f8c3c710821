package scrape

import "time"

// seriesWindow is how long series-limit remembers a target's series, as vmagent's seriesLimitPerTarget
// does: the set starts over every 24 hours, so a target whose series churn (a pod label, a request ID)
// gets limit new ones a day, not limit for its whole life.
const seriesWindow = 24 * time.Hour

// seriesSet is a target's series of the current window, by the 64-bit hash of their labels, in an
// open-addressing table of hashes (0 marks a free slot; a hash of 0 is stored as 1): between 8/0.75 and
// 16/0.75 bytes a series whatever the labels' size, never more slots than limit takes (BenchmarkSeriesSet
// measures 16 bytes a series at 1M). A hash collision lets a new series pass as known, at odds of one in
// 2^64 per pair.
type seriesSet struct {
	start time.Time // the window's
	slots []uint64  // a power of two long, at most 3/4 full
	n     int
}

// startScrape starts a new window when the current one is over.
func (s *seriesSet) startScrape(now time.Time) {
	if now.Sub(s.start) >= seriesWindow {
		s.start = now
		clear(s.slots)
		s.n = 0
	}
}

// admit tells whether the series of that hash may be written: it is known, or there is room for it under
// limit, and then it is known from now on.
func (s *seriesSet) admit(hash uint64, limit int) bool {
	hash = max(hash, 1)
	if s.find(hash) >= 0 {
		return true
	}
	if s.n >= limit {
		return false
	}
	if 4*(s.n+1) > 3*len(s.slots) {
		s.grow()
	}
	s.insert(hash)
	return true
}

// find is the slot of hash, -1 when it is not there.
func (s *seriesSet) find(hash uint64) int {
	if len(s.slots) == 0 {
		return -1
	}
	mask := uint64(len(s.slots) - 1)
	for i := hash & mask; ; i = (i + 1) & mask {
		switch s.slots[i] {
		case hash:
			return int(i)
		case 0:
			return -1
		}
	}
}

// insert puts a hash that is not there in the first free slot of its probe sequence.
func (s *seriesSet) insert(hash uint64) {
	mask := uint64(len(s.slots) - 1)
	i := hash & mask
	for s.slots[i] != 0 {
		i = (i + 1) & mask
	}
	s.slots[i] = hash
	s.n++
}

// grow doubles the table (64 slots at first) and puts the hashes back.
func (s *seriesSet) grow() {
	old := s.slots
	s.slots, s.n = make([]uint64, max(64, 2*len(old))), 0
	for _, h := range old {
		if h != 0 {
			s.insert(h)
		}
	}
}

// seriesHash is the hash of a series' labels, by a digest the worker reuses: no allocation. The 0xff bytes
// keep {a="bc"} and {ab="c"} apart, as labels.Labels.Hash does.
func (w *worker) seriesHash(lset Labels) uint64 {
	w.digest.Reset()
	for _, l := range lset {
		_, _ = w.digest.WriteString(l.Name)
		_, _ = w.digest.Write(separator)
		_, _ = w.digest.WriteString(l.Value)
		_, _ = w.digest.Write(separator)
	}
	return w.digest.Sum64()
}

var separator = []byte{0xff}

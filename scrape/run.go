package scrape

// Running scrapes: which targets are due, how many fetches and parses run at once, and the pools of what
// they reuse. One scrape, from its fetch to its report, is in scrapework.go.

import (
	"context"
	"runtime"
	"sync"
	"time"
)

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
			if t.ScrapedHere() && t.claim(now, gatherEarly(t)) {
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
	workers  = sync.Pool{New: func() any { return newWorker() }}
	fetchers = sync.Pool{New: func() any { return &fetcher{} }}
)

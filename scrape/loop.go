package scrape

// Scrapes on each target's own schedule, in the background.

import (
	"container/heap"
	"context"
	"runtime"
	"sync"
	"time"
)

// Loop scrapes its targets in the background, each at the times its Schedule gives, until its context is
// done. A scrape delivers into its slot's sink as it ends: nothing waits for a gather.
//
// One goroutine keeps the times; each scrape runs on a goroutine of its own, so that a target that hangs
// delays no other's scrape but for the fetch it holds (at most limit at once, as Run) until its timeout.
// A target whose last scrape still runs when it is due again is not scraped that time: one target never
// has two scrapes at once. The parses run in as many slots as Go has processors, as Run's do.
type Loop struct {
	ctx     context.Context
	sched   Schedule
	fetches chan struct{} // a token per fetch under way
	slots   chan *slot
	scrapes sync.WaitGroup
	done    chan struct{} // closed when the timekeeper has ended
	ended   sync.Once     // Wait's return of the workers

	mu      sync.Mutex
	due     dueHeap
	entries map[*Target]*booking
	grains  map[time.Duration]time.Duration // each interval's grain of phases, for its targets (see grain)
	wake    chan struct{}                   // a target was added
}

// booking is one target in the loop: its scraper and when it is due next.
type booking struct {
	s     *Scraper
	t     *Target
	at    time.Time
	index int // in the heap, -1 once the target has left
}

// NewLoop starts a loop of no targets (see Update). newSink is called once per parse slot, before NewLoop
// returns; the sinks are used until the loop has ended (Wait).
func NewLoop(ctx context.Context, sched Schedule, limit int, newSink func() Sink) *Loop {
	l := &Loop{ctx: ctx, sched: sched, fetches: make(chan struct{}, max(limit, 1)), slots: make(chan *slot, runtime.GOMAXPROCS(0)),
		done: make(chan struct{}), entries: make(map[*Target]*booking), wake: make(chan struct{}, 1)}
	for range cap(l.slots) {
		l.slots <- &slot{worker: workers.Get().(*worker), sink: newSink()}
	}
	go l.keepTime()
	return l
}

// Update makes the scrapers' current targets the loop's: a new one is first scraped at its first time
// from now (Schedule.first), or from when it is due again if a gather scraped it (Run); one that stays
// keeps its times; one that left is not scraped again. The grain of each interval's phases follows its
// number of targets (grain).
func (l *Loop) Update(scrapers []*Scraper) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	targets := make(map[*Target]*Scraper, len(l.entries))
	perInterval := make(map[time.Duration]int)
	for _, s := range scrapers {
		for _, t := range s.Targets() {
			targets[t] = s
			perInterval[t.Interval]++
		}
	}
	l.grains = make(map[time.Duration]time.Duration, len(perInterval))
	for interval, n := range perInterval {
		l.grains[interval] = grain(interval, n)
	}
	added := false
	for t, s := range targets {
		if _, ok := l.entries[t]; !ok {
			from := now // a target a gather scraped (Run) waits for its next time, not to be skipped by claim
			if nb := t.notBefore(); nb.After(now) {
				from = nb
			}
			e := &booking{s: s, t: t, at: l.sched.first(t, from, l.grains[t.Interval])}
			l.entries[t] = e
			heap.Push(&l.due, e)
			added = true
		}
	}
	for t, e := range l.entries {
		if targets[t] == nil {
			heap.Remove(&l.due, e.index)
			delete(l.entries, t)
		}
	}
	if added {
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// Wait waits, once the loop's context is done, for the scrapes under way to end: they are cancelled, and
// report nothing. The sinks are free once it returns. It may be called more than once.
func (l *Loop) Wait() {
	<-l.done
	l.scrapes.Wait()
	l.ended.Do(func() {
		for range cap(l.slots) {
			workers.Put((<-l.slots).worker)
		}
	})
}

// keepTime starts each target's scrapes at their times until the context is done.
func (l *Loop) keepTime() {
	defer close(l.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		l.mu.Lock()
		wait := time.Hour
		if len(l.due) > 0 {
			wait = time.Until(l.due[0].at)
		}
		l.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-l.ctx.Done():
			return
		case <-l.wake:
		case <-timer.C:
		}
		l.startDue(time.Now())
	}
}

// startDue starts the scrapes due at now and books each target's next time.
func (l *Loop) startDue(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.due) > 0 && !l.due[0].at.After(now) {
		e := l.due[0]
		e.at = l.sched.after(e.t, e.at, l.grains[e.t.Interval])
		if behind := now.Sub(e.at); behind >= 0 { // the loop fell behind (a suspended machine): the times missed are skipped
			e.at = e.at.Add((behind/e.t.Interval + 1) * e.t.Interval)
		}
		heap.Fix(&l.due, 0)
		if e.t.ScrapedHere() && e.t.claim(now, loopEarly(e.t)) {
			l.scrapes.Add(1)
			go l.scrape(e.s, e.t)
		}
	}
}

// scrape runs one scrape of the target once a fetch is free.
func (l *Loop) scrape(s *Scraper, t *Target) {
	defer l.scrapes.Done()
	defer t.release()
	select {
	case l.fetches <- struct{}{}:
	case <-l.ctx.Done():
		return
	}
	defer func() { <-l.fetches }()
	f := fetchers.Get().(*fetcher)
	defer fetchers.Put(f)
	f.scrape(l.ctx, s, t, l.slots)
}

// dueHeap orders the entries by their next time, earliest first.
type dueHeap []*booking

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *dueHeap) Push(x any) {
	e := x.(*booking)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *dueHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

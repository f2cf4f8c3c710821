package discovering_prometheus

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/influxdata/telegraf"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// SeriesBudgetOptions bound the series this instance sends each database.
type SeriesBudgetOptions struct {
	MaxSeriesPerDB int `toml:"max_series_per_db"`

	budget *seriesBudget // nil without max_series_per_db
}

func (o *SeriesBudgetOptions) initSeriesBudget() error {
	if o.MaxSeriesPerDB < 0 {
		return fmt.Errorf("max_series_per_db: %d is negative", o.MaxSeriesPerDB)
	}
	return nil
}

// startSeriesBudget sets up the budget of the scrapers' databases (routes gives each scraper's), and their
// self-metrics. A database the running budget counts already keeps its series and what it refused: a
// reload's new plan changes which scrapers write where, not what each database holds.
func (p *DiscoveringPrometheus) startSeriesBudget(routes map[*scrape.Scraper]*routing) {
	budget := newSeriesBudget(p.MaxSeriesPerDB, p.Log, routes, p.seriesBudget())
	p.mu.Lock()
	p.budget = budget
	p.mu.Unlock()
	for _, d := range budget.databases() {
		p.stats.addDatabase(d)
	}
}

// seriesBudget returns the budget Start set, for readers outside Gather (the self-metrics).
func (p *DiscoveringPrometheus) seriesBudget() *seriesBudget {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.budget
}

// seriesBudget is max_series_per_db: the series this instance sends each database, counted as InfluxDB 1.x
// counts them for its max-series-per-database (a measurement and its tag set), are kept under the budget.
// Past it, the metrics of new series are refused before they reach the output, counted, and logged once an
// hour per target; InfluxDB would refuse them anyway, failing the whole batch with a partial-write error
// that Telegraf logs and retries. Known series go on being written. The series are never forgotten, as
// InfluxDB keeps a series in its index as long as any shard holds its points.
type seriesBudget struct {
	max int
	log telegraf.Logger
	dbs map[*scrape.Scraper]*dbBudget // each scraper's database's

	mu     sync.Mutex
	logged map[*scrape.Target]time.Time // when each target's refusals were last logged
}

// dbBudget is one database's series and what the budget refused of it.
type dbBudget struct {
	db string

	mu     sync.Mutex
	series scrape.SeriesSet
	// seriesKnown mirrors series.Len() for the self-metrics, which read it without the lock.
	seriesKnown atomic.Int64
	// refused counts the metrics (points) of new series refused.
	refused atomic.Uint64
}

// budgetLogEvery is how often a target whose new series the budget refuses says so.
const budgetLogEvery = time.Hour

// newSeriesBudget is the budget of the scrapers, by their databases, keeping those prev counts already;
// nil when max is 0 (off).
func newSeriesBudget(max int, log telegraf.Logger, routes map[*scrape.Scraper]*routing, prev *seriesBudget) *seriesBudget {
	if max <= 0 {
		return nil
	}
	b := &seriesBudget{max: max, log: log, dbs: make(map[*scrape.Scraper]*dbBudget, len(routes)), logged: map[*scrape.Target]time.Time{}}
	byName := map[string]*dbBudget{}
	for _, d := range prev.databases() {
		byName[d.db] = d
	}
	for s, r := range routes {
		if byName[r.db] == nil {
			byName[r.db] = &dbBudget{db: r.db}
		}
		b.dbs[s] = byName[r.db]
	}
	return b
}

// databases are the budgets of every database, each once.
func (b *seriesBudget) databases() []*dbBudget {
	if b == nil {
		return nil
	}
	seen := map[*dbBudget]bool{}
	var out []*dbBudget
	for _, d := range b.dbs {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

// admit keeps, in place, the metrics of a scrape of s's target t that the budget lets through, and counts
// and logs the others.
func (b *seriesBudget) admit(s *scrape.Scraper, t *scrape.Target, ms []telegraf.Metric) []telegraf.Metric {
	d := b.dbs[s]
	if d == nil || len(ms) == 0 {
		return ms
	}
	var digest xxhash.Digest
	kept := ms[:0]
	d.mu.Lock()
	for _, m := range ms {
		if d.series.Admit(seriesKey(&digest, m), b.max) {
			kept = append(kept, m)
		}
	}
	d.seriesKnown.Store(int64(d.series.Len()))
	d.mu.Unlock()
	refused := len(ms) - len(kept)
	clear(ms[len(kept):])
	if refused > 0 {
		d.refused.Add(uint64(refused))
		b.report(d, t, refused)
	}
	return kept
}

// report logs a target's refused metrics, once an hour per target.
func (b *seriesBudget) report(d *dbBudget, t *scrape.Target, refused int) {
	now := time.Now()
	b.mu.Lock()
	last, seen := b.logged[t]
	due := !seen || now.Sub(last) >= budgetLogEvery
	if due {
		for other, at := range b.logged { // the targets gone or quiet for an hour are forgotten
			if now.Sub(at) >= budgetLogEvery {
				delete(b.logged, other)
			}
		}
		b.logged[t] = now
	}
	b.mu.Unlock()
	if due {
		b.log.Warnf("max_series_per_db: database %q has %d series, its budget: %d metrics of new series of target %s refused "+
			"(counted in series_budget_refused; logged again in an hour)", d.db, b.max, refused, httpconfig.RedactURL(t.URL))
	}
}

// seriesKey is the hash of a metric's series as InfluxDB keys it: its measurement and its tags, which
// Telegraf keeps sorted by key (the db and rp tags included: an output that writes them makes them part of
// the series, and one that does not counts no more series than that).
func seriesKey(d *xxhash.Digest, m telegraf.Metric) uint64 {
	d.Reset()
	_, _ = d.WriteString(m.Name())
	for _, tag := range m.TagList() {
		_, _ = d.Write(keySep)
		_, _ = d.WriteString(tag.Key)
		_, _ = d.Write(keySep)
		_, _ = d.WriteString(tag.Value)
	}
	return d.Sum64()
}

var keySep = []byte{0xff} // in no valid UTF-8 string: no two series share a key

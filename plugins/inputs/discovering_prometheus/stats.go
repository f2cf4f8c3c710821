package discovering_prometheus

import (
	"github.com/influxdata/telegraf/selfstat"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// The plugin's own statistics, for inputs.internal: internal_discovering_prometheus, one series per scraper
// (targets, scrapes, scrape_errors, samples, scrape_time_ns) and one per discoverer (refreshes, errors).
// The counters live in the scrape and discovery packages, which know nothing of Telegraf; each gather
// copies them here.

type scraperStats struct {
	targets, scrapes, errors, samples, time selfstat.Stat
	seenScrapes, seenNanos                  uint64
}

type discovererStats struct {
	refreshes, errors selfstat.Stat
}

type statistics struct {
	collector   *selfstat.Collector
	scrapers    map[*scrape.Scraper]*scraperStats
	discoverers map[discovery.Key]*discovererStats
}

const statsMeasurement = "discovering_prometheus"

func newStatistics(c *selfstat.Collector, scrapers []*scrape.Scraper, discoverers discovery.Configs) *statistics {
	if c == nil {
		// Telegraf sets the collector; the execd shim does not.
		c = selfstat.NewCollector(map[string]string{"input": "discovering_prometheus"})
	}
	s := &statistics{collector: c, scrapers: map[*scrape.Scraper]*scraperStats{}, discoverers: map[discovery.Key]*discovererStats{}}
	for _, sc := range scrapers {
		tags := map[string]string{"scraper": sc.Config().Name}
		s.scrapers[sc] = &scraperStats{
			targets: c.Register(statsMeasurement, "targets", tags),
			scrapes: c.Register(statsMeasurement, "scrapes", tags),
			errors:  c.Register(statsMeasurement, "scrape_errors", tags),
			samples: c.Register(statsMeasurement, "samples", tags),
			time:    c.RegisterTiming(statsMeasurement, "scrape_time_ns", tags),
		}
	}
	for key := range discoverers {
		tags := map[string]string{"discoverer_service": key.Service, "discoverer_id": key.ID}
		s.discoverers[key] = &discovererStats{
			refreshes: c.Register(statsMeasurement, "refreshes", tags),
			errors:    c.Register(statsMeasurement, "errors", tags),
		}
	}
	return s
}

// publish copies the counters; the scrape time is the mean of the scrapes since the last gather.
func (s *statistics) publish(runner *discovery.Manager) {
	for sc, st := range s.scrapers {
		counts := sc.Stats()
		scrapes, nanos := counts.Scrapes.Load(), counts.DurationNano.Load()
		st.targets.Set(counts.Targets.Load())
		st.scrapes.Set(int64(scrapes))
		st.errors.Set(int64(counts.Errors.Load()))
		st.samples.Set(int64(counts.Samples.Load()))
		if n := scrapes - st.seenScrapes; n > 0 {
			st.time.Incr(int64((nanos - st.seenNanos) / n))
		}
		st.seenScrapes, st.seenNanos = scrapes, nanos
	}
	for key, st := range s.discoverers {
		counts := runner.Stats(key)
		st.refreshes.Set(int64(counts.Refreshes))
		st.errors.Set(int64(counts.Errors))
	}
}

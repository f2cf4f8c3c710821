package discovering_prometheus

import (
	"github.com/influxdata/telegraf/selfstat"

	"github.com/discovering-prometheus/discovering-prometheus/cluster"
	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// The plugin's own statistics, for inputs.internal: internal_discovering_prometheus, one series per
// scraper, one per discoverer and one for the cluster, with the fields of selfmetrics.go's tables. The
// counters live in the scrape and discovery packages, which know nothing of Telegraf, and in the cluster
// state; each gather copies them here.

type statistics struct {
	collector   *selfstat.Collector
	scrapers    map[*scrape.Scraper]*selfSeries[*scrape.Stats]
	discoverers map[discovery.Key]*selfSeries[discovery.Stats]
	cluster     *cluster.Stats // nil without a cluster table
	clusterSet  *selfSeries[*cluster.Stats]
	databases   map[*dbBudget]*selfSeries[*dbBudget] // with max_series_per_db
	reloads     *reloads
	reloadSet   *selfSeries[*reloads]
}

const statsMeasurement = "discovering_prometheus"

func newStatistics(c *selfstat.Collector, scrapers []*scrape.Scraper, discoverers discovery.Configs, r *reloads) *statistics {
	if c == nil {
		// Telegraf sets the collector; the execd shim does not.
		c = selfstat.NewCollector(map[string]string{"input": "discovering_prometheus"})
	}
	s := &statistics{collector: c, scrapers: map[*scrape.Scraper]*selfSeries[*scrape.Stats]{}, discoverers: map[discovery.Key]*selfSeries[discovery.Stats]{},
		reloads: r, reloadSet: reloadMetrics.register(c)}
	for _, sc := range scrapers {
		s.scrapers[sc] = scraperMetrics.register(c, sc.Config().Name)
	}
	for key := range discoverers {
		s.discoverers[key] = discovererMetrics.register(c, key.Service, key.ID)
	}
	return s
}

// unregisterGone unregisters the series of the scrapers and discoverers of s that next, which replaces
// s, has not (those of the jobs and discoverers a reload removed): they are published no more.
func (s *statistics) unregisterGone(next *statistics) {
	kept := map[selfstat.Stat]bool{} // a series registered again is the same stats
	for _, st := range next.scrapers {
		kept[st.stats[0]] = true
	}
	for _, st := range next.discoverers {
		kept[st.stats[0]] = true
	}
	for _, st := range s.scrapers {
		if !kept[st.stats[0]] {
			st.unregister(s.collector)
		}
	}
	for _, st := range s.discoverers {
		if !kept[st.stats[0]] {
			st.unregister(s.collector)
		}
	}
}

// addCluster registers the cluster's statistics.
func (s *statistics) addCluster(key discovery.Key, cl *cluster.Stats) {
	s.cluster, s.clusterSet = cl, clusterMetrics.register(s.collector, key.Service, key.ID)
}

// addDatabase registers the statistics of a database's series budget.
func (s *statistics) addDatabase(d *dbBudget) {
	if s.databases == nil {
		s.databases = map[*dbBudget]*selfSeries[*dbBudget]{}
	}
	s.databases[d] = databaseMetrics.register(s.collector, d.db)
}

// publish copies the counters.
func (s *statistics) publish(runner *discovery.Manager) {
	for sc, st := range s.scrapers {
		st.publish(sc.Stats())
	}
	for key, st := range s.discoverers {
		st.publish(runner.Stats(key))
	}
	if s.cluster != nil {
		s.clusterSet.publish(s.cluster)
	}
	for d, st := range s.databases {
		st.publish(d)
	}
	s.reloadSet.publish(s.reloads)
}

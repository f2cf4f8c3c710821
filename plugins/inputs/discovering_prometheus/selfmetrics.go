package discovering_prometheus

import (
	"maps"

	"github.com/influxdata/telegraf/selfstat"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/discovering-prometheus/discovering-prometheus/cluster"
	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// The plugin's own metrics, shown two ways: as internal_discovering_prometheus for inputs.internal
// (selfstat, stats.go), and on /metrics of the status server and the runner (the collector below). Both
// come from the tables here: a metric is named, and read, in one row.

// selfKind is how a self-metric is shown.
type selfKind uint8

const (
	selfCounter selfKind = iota // a count since the start: a field, a counter
	selfGauge                   // a number at the time: a field, a gauge
	// The nanoseconds spent scraping: the field is the mean of the scrapes since the last gather (a
	// selfstat timing); /metrics has their total in seconds, a counter.
	selfTiming
)

// selfMetric is one self-metric of a selfGroup's source.
type selfMetric[T any] struct {
	field  string // its field in internal_discovering_prometheus
	metric string // its name on /metrics, after "discovering_prometheus_"
	help   string
	kind   selfKind
	read   func(T) uint64
	per    func(T) uint64 // selfTiming: the count the mean is over
}

// selfGroup is the self-metrics of one kind of source (a scraper, a discoverer, the cluster), with the tag
// keys that tell the sources apart, which are also the labels on /metrics.
type selfGroup[T any] struct {
	labels  []string
	metrics []selfMetric[T]
	descs   []*prometheus.Desc // the metrics', in order
}

func newSelfGroup[T any](labels []string, metrics ...selfMetric[T]) *selfGroup[T] {
	g := &selfGroup[T]{labels: labels, metrics: metrics}
	for _, m := range metrics {
		g.descs = append(g.descs, prometheus.NewDesc(statsMeasurement+"_"+m.metric, m.help, labels, nil))
	}
	return g
}

var (
	scraperMetrics = newSelfGroup([]string{"scraper"},
		selfMetric[*scrape.Stats]{field: "scrapes", metric: "scrapes_total", help: "Scrapes done.", kind: selfCounter,
			read: func(s *scrape.Stats) uint64 { return s.Scrapes.Load() }},
		selfMetric[*scrape.Stats]{field: "scrape_errors", metric: "scrape_errors_total", help: "Scrapes that failed.", kind: selfCounter,
			read: func(s *scrape.Stats) uint64 { return s.Errors.Load() }},
		selfMetric[*scrape.Stats]{field: "samples", metric: "samples_total", help: "Samples scraped.", kind: selfCounter,
			read: func(s *scrape.Stats) uint64 { return s.Samples.Load() }},
		selfMetric[*scrape.Stats]{field: "scrape_time_ns", metric: "scrape_duration_seconds_total", help: "Time spent scraping.", kind: selfTiming,
			read: func(s *scrape.Stats) uint64 { return s.DurationNano.Load() },
			per:  func(s *scrape.Stats) uint64 { return s.Scrapes.Load() }},
		selfMetric[*scrape.Stats]{field: "targets", metric: "targets", help: "Targets discovered and not blacklisted.", kind: selfGauge,
			read: func(s *scrape.Stats) uint64 { return uint64(s.Targets.Load()) }},
		selfMetric[*scrape.Stats]{field: "series_dropped", metric: "series_limit_samples_dropped_total", help: "Samples of new series that series-limit dropped.", kind: selfCounter,
			read: func(s *scrape.Stats) uint64 { return s.SeriesDropped.Load() }},
	)
	discovererMetrics = newSelfGroup([]string{"discoverer_service", "discoverer_id"},
		selfMetric[discovery.Stats]{field: "refreshes", metric: "discoverer_refreshes_total", help: "Updates the discoverer sent.", kind: selfCounter,
			read: func(s discovery.Stats) uint64 { return s.Refreshes }},
		selfMetric[discovery.Stats]{field: "errors", metric: "discoverer_errors_total", help: "Failures the discoverer logged.", kind: selfCounter,
			read: func(s discovery.Stats) uint64 { return s.Errors }},
	)
	clusterMetrics = newSelfGroup([]string{"cluster_service", "cluster_id"},
		selfMetric[*cluster.Stats]{field: "peers", metric: "cluster_peers", help: "Instances that share the targets, this one included.", kind: selfGauge,
			read: func(c *cluster.Stats) uint64 { return uint64(c.Peers.Load()) }},
		selfMetric[*cluster.Stats]{field: "targets_owned", metric: "cluster_targets_owned", help: "Targets this instance owns and scrapes.", kind: selfGauge,
			read: func(c *cluster.Stats) uint64 { return uint64(c.TargetsOwned.Load()) }},
		selfMetric[*cluster.Stats]{field: "peers_stale", metric: "cluster_peers_stale", help: "1 while the peer discoverer lists no instance and the last peers are kept (empty-peers-after), else 0.", kind: selfGauge,
			read: func(c *cluster.Stats) uint64 { return uint64(c.PeersStale.Load()) }},
		selfMetric[*cluster.Stats]{field: "self_listed", metric: "cluster_self_listed", help: "1 while the peer discoverer lists this instance (self), else 0: alone, or not a member, scraping none of the shared targets.", kind: selfGauge,
			read: func(c *cluster.Stats) uint64 { return uint64(c.SelfListed.Load()) }},
	)
	databaseMetrics = newSelfGroup([]string{"db"},
		selfMetric[*dbBudget]{field: "series_budget_series", metric: "series_budget_series", help: "Series sent to the database since the start, which max_series_per_db bounds.", kind: selfGauge,
			read: func(d *dbBudget) uint64 { return uint64(d.seriesKnown.Load()) }},
		selfMetric[*dbBudget]{field: "series_budget_refused", metric: "series_budget_refused_total", help: "Metrics of new series that max_series_per_db refused.", kind: selfCounter,
			read: func(d *dbBudget) uint64 { return d.refused.Load() }},
	)
)

// reloadMetrics are the plugin's, one series: its configuration reloads, named as Prometheus names its own.
var reloadMetrics = newSelfGroup(nil,
	selfMetric[*reloads]{field: "config_last_reload_successful", metric: "config_last_reload_successful", help: "Whether the last configuration reload succeeded (1) or not (0).", kind: selfGauge,
		read: func(r *reloads) uint64 { return uint64(r.successful.Load()) }},
	selfMetric[*reloads]{field: "config_last_reload_success_timestamp_seconds", metric: "config_last_reload_success_timestamp_seconds", help: "Unix time of the last configuration applied, at start or by a reload.", kind: selfGauge,
		read: func(r *reloads) uint64 { return uint64(r.lastSuccess.Load()) }},
)

// selfSeries is a source's self-metrics in selfstat: one stat per metric of its group.
type selfSeries[T any] struct {
	group *selfGroup[T]
	tags  map[string]string
	stats []selfstat.Stat
	seen  []timingSeen // per metric, for selfTiming
}

// timingSeen is what a selfTiming metric had read at the last publish.
type timingSeen struct{ per, value uint64 }

// register registers a source's stats, tagged with labelValues (in the order of the group's labels).
func (g *selfGroup[T]) register(c *selfstat.Collector, labelValues ...string) *selfSeries[T] {
	tags := make(map[string]string, len(g.labels))
	for i, l := range g.labels {
		tags[l] = labelValues[i]
	}
	s := &selfSeries[T]{group: g, tags: tags, seen: make([]timingSeen, len(g.metrics))}
	for _, m := range g.metrics {
		if m.kind == selfTiming {
			s.stats = append(s.stats, c.RegisterTiming(statsMeasurement, m.field, maps.Clone(tags)))
		} else {
			s.stats = append(s.stats, c.Register(statsMeasurement, m.field, maps.Clone(tags)))
		}
	}
	return s
}

// unregister removes the series from c, which registered it: its source is gone.
func (s *selfSeries[T]) unregister(c *selfstat.Collector) {
	for _, m := range s.group.metrics {
		c.Unregister(statsMeasurement, m.field, maps.Clone(s.tags))
	}
}

// publish copies the source's numbers into its stats; a timing gets the mean of what came since the last
// publish, if anything did.
func (s *selfSeries[T]) publish(src T) {
	for i, m := range s.group.metrics {
		v := m.read(src)
		if m.kind != selfTiming {
			s.stats[i].Set(int64(v))
			continue
		}
		per, seen := m.per(src), &s.seen[i]
		if n := per - seen.per; n > 0 {
			s.stats[i].Incr(int64((v - seen.value) / n))
		}
		seen.per, seen.value = per, v
	}
}

// collect sends the source's metrics, labelled with labelValues.
func (g *selfGroup[T]) collect(ch chan<- prometheus.Metric, src T, labelValues ...string) {
	for i, m := range g.metrics {
		v, typ := float64(m.read(src)), prometheus.CounterValue
		switch m.kind {
		case selfGauge:
			typ = prometheus.GaugeValue
		case selfTiming:
			v /= 1e9
		}
		ch <- prometheus.MustNewConstMetric(g.descs[i], typ, v, labelValues...)
	}
}

// Metrics is a prometheus.Collector of the plugin's own metrics, those inputs.internal shows as
// internal_discovering_prometheus: its scrapers' counters (scrapes, errors, samples, time spent, targets),
// its discoverers' refreshes and errors, with a cluster table the peers known and the targets owned and,
// with max_series_per_db, each database's series and the metrics refused.
// plugin returns the plugin to read; a nil one, or one not started, has none. They are what /metrics of the
// status server shows, and the runner's own endpoint.
func Metrics(plugin func() *DiscoveringPrometheus) prometheus.Collector {
	return collector(plugin)
}

type collector func() *DiscoveringPrometheus

// Describe implements prometheus.Collector.
func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, descs := range [][]*prometheus.Desc{scraperMetrics.descs, discovererMetrics.descs, clusterMetrics.descs, databaseMetrics.descs, reloadMetrics.descs} {
		for _, d := range descs {
			ch <- d
		}
	}
}

// Collect implements prometheus.Collector.
func (plugin collector) Collect(ch chan<- prometheus.Metric) {
	p := plugin()
	if p == nil {
		return
	}
	scrapers, runner, cl := p.running()
	for _, sc := range scrapers {
		scraperMetrics.collect(ch, sc.Stats(), sc.Config().Name)
	}
	if runner == nil {
		return
	}
	_, configs := p.currentPlan()
	for key := range configs {
		discovererMetrics.collect(ch, runner.Stats(key), key.Service, key.ID)
	}
	if cl != nil {
		key := p.Cluster.key()
		clusterMetrics.collect(ch, cl.Stats(), key.Service, key.ID)
	}
	for _, d := range p.seriesBudget().databases() {
		databaseMetrics.collect(ch, d, d.db)
	}
	reloadMetrics.collect(ch, &p.reload)
}

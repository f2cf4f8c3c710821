package discovering_prometheus

import (
	"net/url"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/relabel"
)

// Targets is every scraper's targets as the runner's -targets shows them, shaped like the data of
// Prometheus' /api/v1/targets. It holds no secret: the HTTP client configuration is not in it, and a
// password in a scrape URL is masked.
type Targets struct {
	Active  []ActiveTarget  `json:"activeTargets"`
	Dropped []DroppedTarget `json:"droppedTargets"`
	// ScrapePools names every scraper, also those without a target (Prometheus' /api/v1/scrape_pools).
	ScrapePools []string `json:"scrapePools"`
}

// ActiveTarget is a target that is scraped, with what its last scrape found.
type ActiveTarget struct {
	// DiscoveredLabels are the labels before relabeling, with the scraper's defaults.
	DiscoveredLabels map[string]string `json:"discoveredLabels"`
	// Labels are those every sample of the target carries.
	Labels     map[string]string `json:"labels"`
	ScrapePool string            `json:"scrapePool"`
	ScrapeURL  string            `json:"scrapeUrl"`
	DB         string            `json:"db"`
	RP         string            `json:"rp"`
	LastError  string            `json:"lastError"`
	// LastScrape is zero before the first scrape.
	LastScrape time.Time `json:"lastScrape"`
	// LastScrapeDuration is in seconds.
	LastScrapeDuration float64 `json:"lastScrapeDuration"`
	// Health is "up", "down", or "unknown" before the first scrape.
	Health         string `json:"health"`
	ScrapeInterval string `json:"scrapeInterval"`
	ScrapeTimeout  string `json:"scrapeTimeout"`
	// Owners are the instances of the cluster that scrape the target, none without a cluster table;
	// ScrapedHere tells whether this instance is one of them.
	Owners      []string `json:"owners,omitempty"`
	ScrapedHere bool     `json:"scrapedHere"`
}

// DroppedTarget is a discovered target that relabeling dropped, with the rule that dropped it.
type DroppedTarget struct {
	DiscoveredLabels map[string]string `json:"discoveredLabels"`
	ScrapePool       string            `json:"scrapePool"`
	// RuleIndex is the index of the rule among the scraper's target relabeling rules (a prometheus_config
	// job's relabel_configs, then any relabel-configs).
	RuleIndex int             `json:"droppedByRuleIndex"`
	Rule      *relabel.Config `json:"droppedBy,omitempty"`
}

// Targets returns the current targets of every scraper, in the order of the scrapers and, within one,
// of the scrape URLs; nothing before Start.
func (p *DiscoveringPrometheus) Targets() Targets {
	out := Targets{Active: []ActiveTarget{}, Dropped: []DroppedTarget{}, ScrapePools: []string{}}
	for _, s := range p.Running() {
		cfg := s.Config()
		out.ScrapePools = append(out.ScrapePools, cfg.Name)
		for _, t := range s.Targets() {
			h := t.Health()
			a := ActiveTarget{
				DiscoveredLabels:   t.Discovered.Map(),
				Labels:             t.Labels.Map(),
				ScrapePool:         cfg.Name,
				ScrapeURL:          redactURL(t.URL),
				DB:                 cfg.DB,
				RP:                 cfg.RP,
				LastError:          h.LastError,
				LastScrape:         h.LastScrape,
				LastScrapeDuration: h.Duration.Seconds(),
				Health:             "unknown",
				ScrapeInterval:     model.Duration(t.Interval).String(),
				ScrapeTimeout:      model.Duration(t.Timeout).String(),
				Owners:             p.ownersOf(t),
				ScrapedHere:        t.ScrapedHere(),
			}
			switch {
			case h.LastScrape.IsZero():
			case h.Up:
				a.Health = "up"
			default:
				a.Health = "down"
			}
			out.Active = append(out.Active, a)
		}
		rules := cfg.TargetRelabeling()
		for _, d := range s.Dropped() {
			dt := DroppedTarget{DiscoveredLabels: d.Discovered.Map(), ScrapePool: cfg.Name, RuleIndex: d.Rule}
			if d.Rule >= 0 && d.Rule < len(rules) {
				dt.Rule = rules[d.Rule]
			}
			out.Dropped = append(out.Dropped, dt)
		}
	}
	return out
}

// redactURL masks the password of a URL's userinfo. Only an __address__ that holds "user:password@" makes
// a scrape URL that does not parse; none of it is shown then.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Redacted()
}

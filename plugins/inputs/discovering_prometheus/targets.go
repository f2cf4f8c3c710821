package discovering_prometheus

import (
	"github.com/prometheus/common/model"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
	"github.com/discovering-prometheus/discovering-prometheus/internal/status"
)

// The types of Targets live with the status server, which serves them as /api/v1/targets.
type (
	// Targets is what /api/v1/targets serves: every scraper's targets.
	Targets = status.Targets
	// ActiveTarget is a target being scraped.
	ActiveTarget = status.ActiveTarget
	// DroppedTarget is a discovered target that relabeling dropped.
	DroppedTarget = status.DroppedTarget
	// ClusterMember says whether this instance is among the peers its cluster table lists.
	ClusterMember = status.ClusterMember
)

// Targets returns the current targets of every scraper, in the order of the scrapers and, within one,
// of the scrape URLs; nothing before Start.
func (p *DiscoveringPrometheus) Targets() Targets {
	out := Targets{Active: []ActiveTarget{}, Dropped: []DroppedTarget{}, DroppedCounts: map[string]int{}, ScrapePools: []string{}, Cluster: p.membership()}
	p.mu.Lock()
	scrapers, routes := p.scrapers, p.routes
	p.mu.Unlock()
	for _, s := range scrapers {
		cfg, route := s.Config(), routes.of(s)
		out.ScrapePools = append(out.ScrapePools, cfg.Name)
		out.DroppedCounts[cfg.Name] = s.DroppedCount()
		for _, t := range s.AllTargets() {
			h := t.Health()
			a := ActiveTarget{
				DiscoveredLabels:   t.Discovered().Map(),
				Labels:             t.Labels.Map(),
				ScrapePool:         cfg.Name,
				ScrapeURL:          httpconfig.RedactURL(t.URL),
				DB:                 route.db,
				RP:                 route.rp,
				LastError:          h.LastError,
				LastScrape:         h.LastScrape,
				LastScrapeDuration: h.Duration.Seconds(),
				Health:             "unknown",
				ScrapeInterval:     model.Duration(t.Interval).String(),
				ScrapeTimeout:      model.Duration(t.Timeout).String(),
				Owners:             p.ownersOf(s, t),
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
		rules := s.TargetRelabeling()
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

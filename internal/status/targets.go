package status

import (
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/relabel"
)

// Targets is every scraper's targets, shaped like the data of Prometheus' /api/v1/targets: what the
// runner's -targets -json prints and what /api/v1/targets answers. It holds no secret: the HTTP client
// configuration is not in it, and a password in a scrape URL is masked.
type Targets struct {
	Active  []ActiveTarget  `json:"activeTargets"`
	Dropped []DroppedTarget `json:"droppedTargets"`
	// DroppedCounts is how many targets relabeling dropped in each scrape pool, those past the pool's
	// keep-dropped-targets that Dropped leaves out included (Prometheus 3's droppedTargetCounts).
	DroppedCounts map[string]int `json:"droppedTargetCounts"`
	// ScrapePools names every scraper, also those without a target (Prometheus' /api/v1/scrape_pools).
	ScrapePools []string `json:"scrapePools"`
	// Cluster is this instance's standing among the instances that share the targets; none without a
	// cluster table.
	Cluster *ClusterMember `json:"cluster,omitempty"`
}

// ClusterMember is whether the peer discoverer lists this instance (self) among those that share the
// targets; Error says, while it does not, that the instance scrapes none of them and why.
type ClusterMember struct {
	Self   string `json:"self"`
	Listed bool   `json:"listed"`
	Error  string `json:"error,omitempty"`
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

// Healths are the values of ActiveTarget.Health, in the order the page offers them as filters.
var Healths = []string{"up", "down", "unknown"}

// filter keeps the targets of one scrape pool (all when pool is empty), and of the active targets those
// whose health is in healths (all when it is empty).
func (t Targets) filter(pool string, healths []string) Targets {
	out := Targets{Active: []ActiveTarget{}, Dropped: []DroppedTarget{}, DroppedCounts: map[string]int{}, ScrapePools: t.ScrapePools, Cluster: t.Cluster}
	for name, n := range t.DroppedCounts {
		if pool == "" || name == pool {
			out.DroppedCounts[name] = n
		}
	}
	for _, a := range t.Active {
		if (pool == "" || a.ScrapePool == pool) && (len(healths) == 0 || slices.Contains(healths, a.Health)) {
			out.Active = append(out.Active, a)
		}
	}
	for _, d := range t.Dropped {
		if pool == "" || d.ScrapePool == pool {
			out.Dropped = append(out.Dropped, d)
		}
	}
	return out
}

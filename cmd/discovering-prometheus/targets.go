package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/prometheus/prometheus/model/labels"

	plugin "github.com/discovering-prometheus/discovering-prometheus/plugins/inputs/discovering_prometheus"
)

// showTargets is the runner's -targets, its answer to Prometheus' /targets page: what discovery found, what
// relabeling made of it, and what one scrape of each target gave. It gathers once, discarding the metrics,
// and prints the targets, as JSON when asJSON (-json).
func showTargets(input telegraf.Input, out io.Writer, asJSON bool, logs *stderrLog) error {
	p, ok := input.(*plugin.DiscoveringPrometheus)
	if !ok {
		return fmt.Errorf("-targets: the input is %T, not discovering_prometheus", input)
	}
	if err := gatherOnce(input, io.Discard, logs); err != nil {
		return err
	}
	targets := p.Targets()
	if asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(targets)
	}
	return writeTargetTable(out, targets)
}

// writeTargetTable prints the targets scraper by scraper, one block per target.
func writeTargetTable(out io.Writer, targets plugin.Targets) error {
	active := map[string][]plugin.ActiveTarget{}
	dropped := map[string][]plugin.DroppedTarget{}
	for _, t := range targets.Active {
		active[t.ScrapePool] = append(active[t.ScrapePool], t)
	}
	for _, t := range targets.Dropped {
		dropped[t.ScrapePool] = append(dropped[t.ScrapePool], t)
	}
	var b strings.Builder
	if c := targets.Cluster; c != nil && c.Error != "" {
		fmt.Fprintf(&b, "%s\n", c.Error)
	}
	for _, pool := range targets.ScrapePools {
		ts := active[pool]
		where := ""
		if len(ts) > 0 {
			where = fmt.Sprintf(" (db %q, rp %q)", ts[0].DB, ts[0].RP)
		}
		fmt.Fprintf(&b, "scraper %q%s: %d active, %d dropped\n", pool, where, len(ts), len(dropped[pool]))
		for _, t := range ts {
			fmt.Fprintf(&b, "  %-7s %s\n", strings.ToUpper(t.Health), t.ScrapeURL)
			if !t.LastScrape.IsZero() {
				fmt.Fprintf(&b, "          last scrape: %s, took %s (every %s, timeout %s)\n", t.LastScrape.Format(time.RFC3339Nano),
					time.Duration(t.LastScrapeDuration*float64(time.Second)).Round(time.Microsecond), t.ScrapeInterval, t.ScrapeTimeout)
			}
			if t.LastError != "" {
				fmt.Fprintf(&b, "          error:       %s\n", t.LastError)
			}
			if len(t.Owners) > 0 {
				here := "scraped here"
				if !t.ScrapedHere {
					here = "not scraped here"
				}
				fmt.Fprintf(&b, "          owners:      %s (%s)\n", strings.Join(t.Owners, ", "), here)
			}
			fmt.Fprintf(&b, "          labels:      %s\n", labels.FromMap(t.Labels))
			fmt.Fprintf(&b, "          discovered:  %s\n", labels.FromMap(t.DiscoveredLabels))
		}
		for _, t := range dropped[pool] {
			fmt.Fprintf(&b, "  DROPPED %s\n", labels.FromMap(t.DiscoveredLabels))
			rule, _ := json.Marshal(t.Rule)
			fmt.Fprintf(&b, "          by rule %d:   %s\n", t.RuleIndex, rule)
		}
	}
	_, err := io.WriteString(out, b.String())
	return err
}

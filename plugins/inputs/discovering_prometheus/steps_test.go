package discovering_prometheus

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/influxdata/telegraf/testutil"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

// The steps of every target end with the owners the scrapes go by, the peers ranked by their weights, and
// the scraper's db and rp; an unknown scraper is Prometheus' error.
func TestRelabelStepsOwnersAndRouting(t *testing.T) {
	targets := newCountingTargets(t, 12)
	dir := t.TempDir()
	targetsFile, peersFile := filepath.Join(dir, "targets.json"), filepath.Join(dir, "peers.json")
	require.NoError(t, os.WriteFile(targetsFile, targets.fileSD(), 0o644))
	writePeers(t, peersFile, "a:1", "b:1", "c:1")
	p, _ := startMember(t, targetsFile, peersFile, "a:1", 2)
	require.NoError(t, p.Gather(&testutil.Accumulator{}))
	active := p.Targets().Active
	require.Len(t, active, 12)
	for _, a := range active {
		steps, err := p.RelabelSteps("counted", labels.FromMap(a.DiscoveredLabels))
		require.NoError(t, err)
		require.Empty(t, steps.Steps, "the scraper has no rule")
		require.Equal(t, a.Labels, steps.Target.Labels)
		require.Equal(t, a.ScrapeURL, steps.Target.ScrapeURL)
		require.Equal(t, "db", steps.Routing.DB)
		require.Equal(t, "rp", steps.Routing.RP)
		c := steps.Cluster
		require.Equal(t, "a:1", c.Self)
		require.Len(t, c.Peers, 3)
		var owners []string
		for i, peer := range c.Peers {
			require.Equal(t, i < 2, peer.Owner)
			if i > 0 {
				require.Greater(t, c.Peers[i-1].Weight, peer.Weight)
			}
			if peer.Owner {
				owners = append(owners, peer.Name)
			}
		}
		require.Equal(t, a.Owners, owners, "target %s", a.Labels["n"])
		require.Equal(t, a.ScrapedHere, c.ScrapedHere)
		require.Equal(t, slices.Contains(owners, "a:1"), c.ScrapedHere)
	}
	_, err := p.RelabelSteps("other", labels.FromStrings("__address__", "x:1"))
	require.EqualError(t, err, `scrape pool "other" not found`)
}

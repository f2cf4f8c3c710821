package discovering_prometheus

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
)

var updateClusterGolden = flag.Bool("update-cluster-golden", false, "rewrite testdata/cluster_owners.golden (a breaking change for clusters: see the test)")

// TestClusterOwnersAreStableAcrossVersions pins the owners that fixed peers give fixed targets of two
// scrapers, with replication-factor 1 and 2, to testdata/cluster_owners.golden. Every instance of one
// version agrees with itself whatever a target's key (scraper name and labels) or the rendezvous weight
// is; the instances of a rolling upgrade agree only if those stay as they were. A change to the golden
// values is a BREAKING CHANGE for clusters: during an upgrade, old and new instances disagree and targets
// go unscraped or are scraped twice until every instance runs the new version. Do not update the file
// (-update-cluster-golden) unless the change is meant, and then list it in the changelog.
func TestClusterOwnersAreStableAcrossVersions(t *testing.T) {
	var lines []string
	for _, r := range []int{1, 2} {
		p, err := loadTelegraf(t, fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  discovery_wait = "10s"
  [[inputs.discovering_prometheus.scraper]]
    name = "node"
    db = "db"
    rp = "rp"
    discoverer-service = "static-discovery"
    discoverer-id = "targets"
  [[inputs.discovering_prometheus.scraper]]
    name = "app"
    db = "db"
    rp = "rp"
    discoverer-service = "static-discovery"
    discoverer-id = "targets"
    metrics-path = "/app"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "targets"
    targets = ["127.0.0.1:9100", "127.0.0.1:9101", "127.0.0.1:9102", "127.0.0.1:9103", "127.0.0.1:9104",
      "127.0.0.1:9105", "127.0.0.1:9106", "127.0.0.1:9107", "127.0.0.1:9108", "127.0.0.1:9109"]
    [inputs.discovering_prometheus.static-discovery.labels]
      team = "web"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "peers"
    targets = ["127.0.0.1:9273", "127.0.0.2:9273", "127.0.0.3:9273", "127.0.0.4:9273", "127.0.0.5:9273"]
  [inputs.discovering_prometheus.cluster]
    discoverer-service = "static-discovery"
    discoverer-id = "peers"
    self = "127.0.0.1:9273"
    replication-factor = %d
`, r))
		require.NoError(t, err)
		require.NoError(t, p.Init())
		require.NoError(t, p.Start(&testutil.Accumulator{}))
		t.Cleanup(p.Stop)
		require.True(t, p.awaitDiscovery())
		p.syncTargets() // assigns the owners; nothing is scraped
		require.Len(t, p.cluster.peers.Names(), 5)
		for _, s := range p.scrapers {
			require.Len(t, s.Targets(), 10)
			for _, target := range s.Targets() {
				lines = append(lines, fmt.Sprintf("r=%d scraper=%s labels=%s owners=%s",
					r, s.Config().Name, target.Labels.String(), strings.Join(p.ownersOf(target), ",")))
			}
		}
	}
	slices.Sort(lines)
	got := strings.Join(lines, "\n") + "\n"
	path := filepath.Join("testdata", "cluster_owners.golden")
	if *updateClusterGolden {
		require.NoError(t, os.WriteFile(path, []byte(clusterGoldenHeader+got), 0o644))
	}
	file, err := os.ReadFile(path)
	require.NoError(t, err)
	var want strings.Builder
	for _, line := range strings.SplitAfter(string(file), "\n") {
		if !strings.HasPrefix(line, "#") {
			want.WriteString(line)
		}
	}
	require.Equal(t, want.String(), got, "the owners of a target changed: a breaking change for clusters (see the test's comment)")
}

const clusterGoldenHeader = `# The owners of fixed targets among fixed peers (TestClusterOwnersAreStableAcrossVersions).
# Changing these values is a BREAKING CHANGE for clusters: in a rolling upgrade, old and new instances
# disagree on the owners, and targets go unscraped or are scraped twice. List it in the changelog.
`

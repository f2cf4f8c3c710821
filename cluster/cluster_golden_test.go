package cluster

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/influxdata/telegraf/testutil"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

var updateClusterGolden = flag.Bool("update-cluster-golden", false, "rewrite testdata/cluster_owners.golden (a breaking change for clusters: see the test)")

// TestClusterOwnersAreStableAcrossVersions pins the owners that fixed peers give fixed targets of two
// scrapers, with replication-factor 1 and 2, to testdata/cluster_owners.golden. The targets are built by
// the scrape package, as the plugin builds them, so that their labels after relabeling are pinned too.
// Every instance of one version agrees with itself whatever a target's key (scraper name and labels) or
// the rendezvous weight is; the instances of a rolling upgrade agree only if those stay as they were. A
// change to the golden values is a BREAKING CHANGE for clusters: during an upgrade, old and new instances
// disagree and targets go unscraped or are scraped twice until every instance runs the new version. Do
// not update the file (-update-cluster-golden) unless the change is meant, and then list it in the
// changelog.
func TestClusterOwnersAreStableAcrossVersions(t *testing.T) {
	targets := &targetgroup.Group{Source: "targets", Labels: model.LabelSet{"team": "web"}}
	for port := 9100; port < 9110; port++ {
		targets.Targets = append(targets.Targets, model.LabelSet{model.AddressLabel: model.LabelValue(fmt.Sprintf("127.0.0.1:%d", port))})
	}
	var scrapers []*scrape.Scraper
	for _, cfg := range []*scrape.Config{{Name: "node"},
		{Name: "app", MetricsPath: "/app"}} {
		require.NoError(t, cfg.Init())
		s, err := scrape.New(cfg, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
		require.NoError(t, err)
		require.Empty(t, s.Sync([]*targetgroup.Group{targets}))
		scrapers = append(scrapers, s)
	}
	var lines []string
	for _, r := range []int{1, 2} {
		c := New(Config{Peers: "peers", Self: "127.0.0.1:9273", Replication: r},
			staticPeers("127.0.0.1:9273", "127.0.0.2:9273", "127.0.0.3:9273", "127.0.0.4:9273", "127.0.0.5:9273"), testutil.Logger{Quiet: true})
		c.Assign([]Pool{scrapers[0], scrapers[1]})
		require.Len(t, c.Peers(), 5)
		for _, s := range scrapers {
			require.Len(t, s.AllTargets(), 10)
			for _, target := range s.AllTargets() {
				lines = append(lines, fmt.Sprintf("r=%d scraper=%s labels=%s owners=%s",
					r, s.Name(), target.Labels.String(), strings.Join(c.Owners(s.Name(), target.Labels), ",")))
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

// staticPeers is a peer discoverer that lists the addresses, in one group.
func staticPeers(addrs ...string) func() []*targetgroup.Group {
	g := &targetgroup.Group{Source: "peers"}
	for _, a := range addrs {
		g.Targets = append(g.Targets, model.LabelSet{model.AddressLabel: model.LabelValue(a)})
	}
	return func() []*targetgroup.Group { return []*targetgroup.Group{g} }
}

//go:build !remove_all_sd || enable_zookeeper_sd

package discovery

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	_ "unsafe" // for go:linkname

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"

	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// The ZooKeeper discoverers parse each member znode with these functions of Prometheus' zookeeper package.
// They are not exported, and reaching them through a ZooKeeper server would make a fuzz run a few execs a
// second, so the fuzz targets link to them directly: the code under test is exactly Prometheus' own.

//go:linkname parseNerveMember github.com/prometheus/prometheus/discovery/zookeeper.parseNerveMember
func parseNerveMember(data []byte, path string) (model.LabelSet, error)

//go:linkname parseServersetMember github.com/prometheus/prometheus/discovery/zookeeper.parseServersetMember
func parseServersetMember(data []byte, path string) (model.LabelSet, error)

// fuzzScraper builds targets from discovered groups with the scraper's own rules, so that every fuzz target
// of a discovery format also checks that whatever a provider hands over cannot break a scraper.
func fuzzScraper(t *testing.T) *scrape.Scraper {
	c := &scrape.Config{Name: "fuzz", DB: "db", RP: "rp", DiscovererService: "static-discovery", DiscovererID: "x"}
	if err := c.Init(); err != nil {
		t.Fatal(err)
	}
	s, err := scrape.New(c, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// syncGroups hands the groups to a scraper: every target is built or refused with an error, none panics.
func syncGroups(t *testing.T, groups []*targetgroup.Group) {
	s := fuzzScraper(t)
	errs := s.Sync(groups)
	for _, err := range errs {
		if err.Error() == "" {
			t.Fatal("an empty error")
		}
	}
	for _, target := range s.Targets() {
		if target.URL == "" || target.Instance() == "" {
			t.Fatalf("target %+v built without URL or instance", target)
		}
	}
}

// boundAlloc fails when f allocates more than a fixed 64 MiB plus 1 KiB per input byte: what a parser may
// need for a small document, far below what an amplification (a YAML alias bomb, say) would take.
func boundAlloc(t *testing.T, size int, f func()) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(64<<20+1024*size) {
		t.Fatalf("a %d-byte input made us allocate %d MiB", size, alloc>>20)
	}
}

// FuzzFileSD has the file discoverer that [[file-discovery]] sections and file_sd_configs run read a fuzzed
// JSON or YAML file (readFileSD, which each refresh calls per file: running the whole discoverer would
// spend each exec closing an inotify watcher): it either returns the file's groups or an error, and the
// groups build targets or errors.
func FuzzFileSD(f *testing.F) {
	f.Add([]byte(`[{"targets":["10.0.0.1:9100","node-b:9100"],"labels":{"team":"web","env":"prod"}}]`), false)
	f.Add([]byte("- targets:\n    - \"db-1:9104\"\n  labels:\n    team: \"db\"\n"), true)
	dir := f.TempDir()
	jsonFile, yamlFile := filepath.Join(dir, "targets.json"), filepath.Join(dir, "targets.yml")
	f.Fuzz(func(t *testing.T, data []byte, yaml bool) {
		name := jsonFile
		if yaml {
			name = yamlFile
		}
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
		boundAlloc(t, len(data), func() {
			groups, err := readFileSD(name)
			if err != nil {
				if err.Error() == "" {
					t.Fatal("an empty error")
				}
				return
			}
			for _, g := range groups {
				if g == nil || g.Source == "" || g.Labels["__meta_filepath"] != model.LabelValue(name) {
					t.Fatalf("group %+v: no source or file path", g)
				}
			}
			syncGroups(t, groups)
		})
	})
}

// fuzzMember checks one ZooKeeper member parser: an error, or labels with an address that build a target
// or an error.
func fuzzMember(t *testing.T, parse func([]byte, string) (model.LabelSet, error), data []byte) {
	boundAlloc(t, len(data), func() {
		labels, err := parse(data, "/services/web/member_0000000001")
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		if labels[model.AddressLabel] == "" {
			t.Fatalf("member %q parsed without an address", data)
		}
		syncGroups(t, []*targetgroup.Group{{Source: "/services/web", Targets: []model.LabelSet{labels}}})
	})
}

// FuzzNerveMember parses a fuzzed Nerve member znode, as the [[nerve]] discoverer does.
func FuzzNerveMember(f *testing.F) {
	f.Add([]byte(`{"host":"10.0.0.1","port":9100,"name":"web-1"}`))
	f.Add([]byte(`{"host":"::1","port":80}`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzMember(t, parseNerveMember, data) })
}

// FuzzServersetMember parses a fuzzed Finagle serverset member znode, as the [[serverset]] discoverer does.
func FuzzServersetMember(f *testing.F) {
	f.Add([]byte(`{"serviceEndpoint":{"host":"10.0.0.2","port":9100},"additionalEndpoints":{"admin":{"host":"10.0.0.2","port":9990}},"status":"ALIVE","shard":3}`))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzMember(t, parseServersetMember, data) })
}

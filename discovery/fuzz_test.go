//go:build !remove_all_sd || enable_zookeeper_sd

package discovery

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	_ "unsafe" // for go:linkname

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
)

// The ZooKeeper discoverers parse each member znode with these functions of Prometheus' zookeeper package.
// They are not exported, and reaching them through a ZooKeeper server would make a fuzz run a few execs a
// second, so the fuzz targets link to them directly: the code under test is exactly Prometheus' own.

//go:linkname parseNerveMember github.com/prometheus/prometheus/discovery/zookeeper.parseNerveMember
func parseNerveMember(data []byte, path string) (model.LabelSet, error)

//go:linkname parseServersetMember github.com/prometheus/prometheus/discovery/zookeeper.parseServersetMember
func parseServersetMember(data []byte, path string) (model.LabelSet, error)

// checkGroups checks what a provider hands over: groups, each with its source and targets that are label
// sets. That a scraper builds targets from any label set, or refuses them with an error, is scrape's
// FuzzSync.
func checkGroups(t *testing.T, groups []*targetgroup.Group) {
	for _, g := range groups {
		if g == nil || g.Source == "" {
			t.Fatalf("group %+v without a source", g)
		}
		for _, target := range g.Targets {
			if target == nil {
				t.Fatalf("group %q: a nil target", g.Source)
			}
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
// spend each exec closing an inotify watcher): it either returns the file's groups, each with its source
// and file path, or an error.
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
			checkGroups(t, groups)
		})
	})
}

// fuzzMember checks one ZooKeeper member parser: an error, or labels with an address (what a scraper
// makes of any labels is scrape's FuzzSync).
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

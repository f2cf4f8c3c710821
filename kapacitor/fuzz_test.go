package kapacitor

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/influxdata/toml"
)

// FuzzMigrate reads a fuzzed kapacitor.conf as kapacitor_config and -migrate-kapacitor do (Migrate runs
// Load first): the result is sections or an error, never a panic; the migrated configuration is TOML that
// parses; and a small file cannot make the reader allocate without bound.
func FuzzMigrate(f *testing.F) {
	f.Add(kapacitorSample)
	f.Add(`
[[scraper]]
  enabled = true
  name = "node"
  db = "prometheus"
  rp = "autogen"
  discoverer-id = "nodes"
  discoverer-service = "static-discovery"
  scrape-interval = "15s"
  bearer-token = "secret"

[[static-discovery]]
  enabled = true
  id = "nodes"
  targets = ["localhost:9100"]
  [static-discovery.labels]
    region = "eu-west"
`)
	path := filepath.Join(f.TempDir(), "kapacitor.conf")
	f.Fuzz(func(t *testing.T, conf string) {
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Migrate(&out, path)
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(64<<20+1024*len(conf)) {
			t.Fatalf("a %d-byte file made us allocate %d MiB", len(conf), alloc>>20)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		if _, err := toml.Parse([]byte(out.String())); err != nil {
			t.Fatalf("the migrated configuration is not TOML: %v\n%s", err, out.String())
		}
	})
}

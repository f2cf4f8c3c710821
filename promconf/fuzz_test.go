package promconf

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// FuzzLoad reads a fuzzed prometheus.yml as prometheus_config does: whatever Prometheus' loader accepts
// becomes jobs whose scrapers initialise and build their HTTP client, or an error, never a panic; and a
// small file cannot make the reader allocate without bound.
func FuzzLoad(f *testing.F) {
	seed, err := os.ReadFile("testdata/prometheus.yml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(seed))
	f.Add("scrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: [\"localhost:9100\"]\n")
	path := filepath.Join(f.TempDir(), "prometheus.yml")
	logger := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, yaml string) {
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		jobs, err := Load(path, logger)
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(64<<20+1024*len(yaml)) {
			t.Fatalf("a %d-byte file made us allocate %d MiB", len(yaml), alloc>>20)
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an empty error")
			}
			return
		}
		for _, job := range jobs {
			cfg := job.Scraper
			if len(job.Keys) != len(job.Discoverers) {
				t.Fatalf("job %q: %d keys for %d discoverers", cfg.Name, len(job.Keys), len(job.Discoverers))
			}
			if err := cfg.Init(); err != nil {
				continue // a job Prometheus accepts and this scraper refuses says so, with an error
			}
			if s, err := scrape.New(cfg, job.Extras, logger); err == nil && s.Config() != cfg {
				t.Fatal("the scraper lost its configuration")
			}
		}
	})
}

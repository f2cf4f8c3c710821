package promconf

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/file"
	"github.com/stretchr/testify/require"

	dpdiscovery "github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

func TestLoad(t *testing.T) {
	jobs, err := Load("testdata/prometheus.yml", slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.Len(t, jobs, 2)

	node := jobs[0]
	node.Scraper.DB, node.Scraper.RP = "d", "r"
	require.NoError(t, node.Scraper.Init(), "a job converts to a valid scraper once it has db and rp")
	require.Equal(t, "node", node.Scraper.Name)
	require.Equal(t, 30*time.Second, time.Duration(node.Scraper.ScrapeInterval), "the global interval")
	require.Equal(t, 5*time.Second, time.Duration(node.Scraper.ScrapeTimeout), "the global timeout")
	require.Equal(t, "http", node.Scraper.Scheme)
	require.Equal(t, "/metrics", node.Scraper.MetricsPath)
	require.Equal(t, []dpdiscovery.Key{{Service: Service, ID: "node/static/0"}}, node.Keys)
	require.Empty(t, node.Ignored)
	require.EqualValues(t, scrape.DefaultBodySizeLimit, node.Scraper.BodySizeLimit, "an unset body_size_limit is the scrapers' default")

	apps := jobs[1]
	c := apps.Scraper
	c.DB, c.RP = "d", "r"
	require.NoError(t, c.Init())
	require.Equal(t, time.Minute, time.Duration(c.ScrapeInterval))
	require.Equal(t, "https", c.Scheme)
	require.Equal(t, "/probe", c.MetricsPath)
	require.Equal(t, map[string][]string{"module": {"http_2xx"}}, c.Params)
	require.True(t, c.HonorLabels)
	require.False(t, *c.HonorTimestamps)
	require.False(t, *c.EnableCompression)
	require.Equal(t, 1000, c.SampleLimit)
	require.EqualValues(t, 10<<20, c.BodySizeLimit)
	require.Len(t, c.TargetRelabeling(), 1)
	require.Equal(t, "drop", string(c.TargetRelabeling()[0].Action))
	require.Len(t, c.PrometheusMetricRelabel, 1)
	// The HTTP client configuration comes whole, with relative files resolved against the file's directory.
	require.Equal(t, "scraper", c.HTTPClient.BasicAuth.Username)
	require.Equal(t, "s3cret", string(c.HTTPClient.BasicAuth.Password))
	require.Equal(t, filepath.Join("testdata", "ca.pem"), c.HTTPClient.TLSConfig.CAFile)
	// Two SD configurations, two discoverers, one key each.
	require.Equal(t, []dpdiscovery.Key{{Service: Service, ID: "apps/file/0"}, {Service: Service, ID: "apps/static/1"}}, apps.Keys)
	fileSD, ok := apps.Discoverers[apps.Keys[0]].(*file.SDConfig)
	require.True(t, ok)
	require.Equal(t, []string{filepath.Join("testdata", "targets/*.json")}, fileSD.Files)
	require.IsType(t, discovery.StaticConfig{}, apps.Discoverers[apps.Keys[1]])
	require.Equal(t, []string{"target_limit"}, apps.Ignored)
}

func TestLoadErrors(t *testing.T) {
	_, err := Load("testdata/missing.yml", slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "missing.yml")
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	require.NoError(t, writeFile(bad, "scrape_configs:\n  - job_name: a\n    scrape_interval: 1s\n    scrape_timeout: 2s\n"))
	_, err = Load(bad, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, "scrape timeout greater than scrape interval")
}

// The file and its scrape_config_files are read only when they are regular files of at most 16 MiB: a named
// pipe would block the read, /dev/zero would fill memory.
func TestLoadRefusesWhatIsNotABoundedFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.yml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	big := filepath.Join(dir, "big.yml")
	require.NoError(t, writeFile(big, "# "+strings.Repeat("x", 16<<20)+"\n"))
	main := filepath.Join(dir, "prometheus.yml")
	for _, tc := range []struct{ path, scrapeConfigFiles, want string }{
		{"/dev/zero", "", "/dev/zero: not a regular file (a character device)"},
		{fifo, "", fifo + ": not a regular file (a named pipe)"},
		{big, "", big + ": larger than 16 MiB, the most a configuration file may hold"},
		{main, "fifo.yml", main + ": scrape_config_files: " + fifo + ": not a regular file (a named pipe)"},
		{main, "big.yml", main + ": scrape_config_files: " + big + ": larger than 16 MiB"},
	} {
		if tc.scrapeConfigFiles != "" {
			require.NoError(t, writeFile(main, "scrape_config_files: ["+tc.scrapeConfigFiles+"]\n"))
		}
		_, err := Load(tc.path, slog.New(slog.DiscardHandler))
		require.ErrorContains(t, err, tc.want)
	}
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }

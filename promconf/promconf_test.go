package promconf

import (
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	commonconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
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
	require.Len(t, apps.Extras.Relabel, 1)
	require.Equal(t, "drop", string(apps.Extras.Relabel[0].Action))
	require.Len(t, apps.Extras.MetricRelabel, 1)
	// The HTTP client configuration comes whole, with relative files resolved against the file's directory.
	client := apps.Extras.HTTPClient
	require.Equal(t, "scraper", client.BasicAuth.Username)
	require.Equal(t, "s3cret", string(client.BasicAuth.Password))
	require.Equal(t, filepath.Join("testdata", "ca.pem"), client.TLSConfig.CAFile)
	// Two SD configurations, two discoverers, one key each.
	require.Equal(t, []dpdiscovery.Key{{Service: Service, ID: "apps/file/0"}, {Service: Service, ID: "apps/static/1"}}, apps.Keys)
	fileSD, ok := apps.Discoverers[apps.Keys[0]].(*file.SDConfig)
	require.True(t, ok)
	require.Equal(t, []string{filepath.Join("testdata", "targets", "*.json")}, fileSD.Files)
	require.IsType(t, discovery.StaticConfig{}, apps.Discoverers[apps.Keys[1]])
	require.Empty(t, apps.Ignored)
	require.Equal(t, 10, c.TargetLimit, "target_limit is target-limit")
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
	for _, tc := range []struct{ name, path, scrapeConfigFiles, want string }{
		{"a device", "/dev/zero", "", "/dev/zero: not a regular file (a character device)"},
		{"a named pipe", fifo, "", fifo + ": not a regular file (a named pipe)"},
		{"too large", big, "", big + ": larger than 16 MiB, the most a configuration file may hold"},
		{"scrape_config_files a named pipe", main, "fifo.yml", main + ": scrape_config_files: " + fifo + ": not a regular file (a named pipe)"},
		{"scrape_config_files too large", main, "big.yml", main + ": scrape_config_files: " + big + ": larger than 16 MiB"},
		{"scrape_config_files a device", main, "/dev/zero", main + ": scrape_config_files: /dev/zero: not a regular file (a character device)"},
		// A regular file whose stat() says 0 bytes, and which reads on for gigabytes: read within the limit.
		{"scrape_config_files /proc/self/pagemap", main, "/proc/self/pagemap", main + ": scrape_config_files: /proc/self/pagemap: larger than 16 MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.scrapeConfigFiles != "" {
				require.NoError(t, writeFile(main, "scrape_config_files: ["+tc.scrapeConfigFiles+"]\n"))
			}
			_, err := Load(tc.path, slog.New(slog.DiscardHandler))
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// The scrape_config_files are merged as Prometheus merges them: the same jobs, with the global defaults
// and paths relative to their own file, and the same errors, naming the file.
func TestLoadScrapeConfigFiles(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "jobs"), 0o755))
	main := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, writeFile(main, `
global: {scrape_interval: 20s}
scrape_config_files: ["jobs/*.yml"]
scrape_configs:
  - job_name: main
    static_configs: [{targets: ["localhost:9100"]}]
`))
	require.NoError(t, writeFile(filepath.Join(dir, "jobs", "a.yml"), `
scrape_configs:
  - job_name: from-a
    file_sd_configs: [{files: ["targets/*.json"]}]
  - job_name: also-from-a
    scrape_interval: 1m
    static_configs: [{targets: ["localhost:9101"]}]
`))
	require.NoError(t, writeFile(filepath.Join(dir, "jobs", "b.yml"), "scrape_configs:\n  - job_name: from-b\n    metrics_path: /m\n"))

	jobs, err := Load(main, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	prom, err := promconfig.LoadFile(main, false, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	want, err := prom.GetScrapeConfigs()
	require.NoError(t, err)
	require.Len(t, jobs, len(want))
	for i, job := range jobs {
		require.Equal(t, want[i].JobName, job.Scraper.Name)
		require.Equal(t, want[i].ScrapeInterval, model.Duration(job.Scraper.ScrapeInterval), job.Scraper.Name)
		require.Equal(t, want[i].MetricsPath, job.Scraper.MetricsPath, job.Scraper.Name)
		require.Equal(t, len(want[i].ServiceDiscoveryConfigs), len(job.Discoverers), job.Scraper.Name)
	}
	require.Equal(t, []string{"main", "from-a", "also-from-a", "from-b"}, []string{jobs[0].Scraper.Name, jobs[1].Scraper.Name, jobs[2].Scraper.Name, jobs[3].Scraper.Name})
	require.Equal(t, 20*time.Second, time.Duration(jobs[1].Scraper.ScrapeInterval), "the global interval")
	fileSD := jobs[1].Discoverers[jobs[1].Keys[0]].(*file.SDConfig)
	require.Equal(t, []string{filepath.Join(dir, "jobs", "targets", "*.json")}, fileSD.Files, "relative to its own file")

	// Errors: Prometheus' own words, naming the file.
	b := filepath.Join(dir, "jobs", "b.yml")
	for _, tc := range []struct{ name, content, want string }{
		{"a job name twice", "scrape_configs:\n  - job_name: main\n", `found multiple scrape configs with job name "main", first found in main config file`},
		{"an invalid job", "scrape_configs:\n  - job_name: x\n    scrape_interval: 1s\n    scrape_timeout: 2s\n", "scrape timeout greater than scrape interval"},
		{"an unknown key", "scrape_configs:\n  - job_name: x\n    scrape_intervall: 1s\n", "field scrape_intervall not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, writeFile(b, tc.content))
			_, err := Load(main, slog.New(slog.DiscardHandler))
			require.ErrorContains(t, err, main+`: "`+b+`": `)
			require.ErrorContains(t, err, tc.want)
			_, err = prom.GetScrapeConfigs()
			require.ErrorContains(t, err, tc.want, "Prometheus' own error")
		})
	}
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }

// loadJob loads a file with one job, its options given as YAML lines, and an optional global section.
func loadJob(t *testing.T, global, options string) *Job {
	t.Helper()
	path := filepath.Join(t.TempDir(), "prometheus.yml")
	content := "scrape_configs:\n  - job_name: j\n    static_configs: [{targets: [\"localhost:9100\"]}]\n"
	for _, line := range strings.Split(strings.TrimSpace(options), "\n") {
		if line != "" {
			content += "    " + line + "\n"
		}
	}
	if global != "" {
		content = "global:\n  " + global + "\n" + content
	}
	require.NoError(t, writeFile(path, content))
	jobs, err := Load(path, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	return jobs[0]
}

// A job's Accept header is Prometheus' for its scrape_protocols (scrape/scrape.go acceptHeader in the
// prometheus module), default included.
func TestAcceptHeader(t *testing.T) {
	for _, tc := range []struct {
		name, global, options, want string
	}{
		{"default", "", "",
			"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.7,application/openmetrics-text;version=0.0.1;q=0.6," +
				"text/plain;version=1.0.0;escaping=allow-utf-8;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.3"},
		{"text only", "", "scrape_protocols: [PrometheusText0.0.4]", "text/plain;version=0.0.4;q=0.7,*/*;q=0.6"},
		{"protobuf first", "", "scrape_protocols: [PrometheusProto, PrometheusText1.0.0]",
			"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7," +
				"text/plain;version=1.0.0;escaping=allow-utf-8;q=0.6,*/*;q=0.5"},
		{"global", "scrape_protocols: [OpenMetricsText1.0.0]", "",
			"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.7,*/*;q=0.6"},
		{"escaping scheme", "", "scrape_protocols: [OpenMetricsText1.0.0, PrometheusText0.0.4]\nmetric_name_escaping_scheme: underscores",
			"application/openmetrics-text;version=1.0.0;escaping=underscores;q=0.7,text/plain;version=0.0.4;q=0.6,*/*;q=0.5"},
		{"legacy validation escapes", "", "scrape_protocols: [PrometheusText1.0.0]\nmetric_name_validation_scheme: legacy",
			"text/plain;version=1.0.0;escaping=underscores;q=0.7,*/*;q=0.6"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, loadJob(t, tc.global, tc.options).Extras.Accept)
		})
	}
}

// Each option a job sets to something this scraper does not do is reported by its key; the ones it does
// are not.
func TestIgnored(t *testing.T) {
	for _, tc := range []struct {
		name, global, options string
		want                  []string
	}{
		{"track_timestamps_staleness", "", "track_timestamps_staleness: true", []string{"track_timestamps_staleness"}},
		{"fallback_scrape_protocol", "", "fallback_scrape_protocol: OpenMetricsText1.0.0", []string{"fallback_scrape_protocol"}},
		{"metric_name_validation_scheme", "", "metric_name_validation_scheme: legacy", []string{"metric_name_validation_scheme"}},
		{"metric_name_validation_scheme, global", "metric_name_validation_scheme: legacy", "", []string{"metric_name_validation_scheme"}},
		{"several, sorted", "", "track_timestamps_staleness: true\nmetric_name_validation_scheme: legacy", []string{"metric_name_validation_scheme", "track_timestamps_staleness"}},
		// What is done here.
		{"fallback to the text format", "", "fallback_scrape_protocol: PrometheusText0.0.4", nil},
		{"scrape_protocols", "", "scrape_protocols: [PrometheusText0.0.4]", nil},
		{"metric_name_escaping_scheme", "", "metric_name_escaping_scheme: dots", nil},
		{"utf8 validation", "", "metric_name_validation_scheme: utf8", nil},
		{"always_scrape_classic_histograms", "", "always_scrape_classic_histograms: true", nil},
		{"extra_scrape_metrics false", "", "extra_scrape_metrics: false", nil},
		{"extra_scrape_metrics", "", "extra_scrape_metrics: true", nil},
		{"scrape_native_histograms false", "", "scrape_native_histograms: false", nil},
		{"scrape_native_histograms", "", "scrape_native_histograms: true", nil},
		{"native_histogram_bucket_limit", "", "native_histogram_bucket_limit: 160", nil},
		{"native_histogram_min_bucket_factor", "", "native_histogram_min_bucket_factor: 1.1", nil},
		{"convert_classic_histograms_to_nhcb", "", "convert_classic_histograms_to_nhcb: true", nil},
		{"target_limit", "", "target_limit: 10", nil},
		{"keep_dropped_targets", "", "keep_dropped_targets: 5", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, loadJob(t, tc.global, tc.options).Ignored)
		})
	}
}

// Every field of Prometheus' scrape_config is either used or reported when set: a field a new Prometheus
// brings fails this test until it is sorted into one or the other.
func TestEveryScrapeConfigFieldIsHandled(t *testing.T) {
	used := []string{"job_name", "honor_labels", "honor_timestamps", "params", "scrape_interval", "scrape_timeout",
		"scrape_protocols", "metrics_path", "scheme", "enable_compression", "body_size_limit", "sample_limit",
		"label_limit", "label_name_length_limit", "label_value_length_limit", "metric_name_escaping_scheme",
		"relabel_configs", "metric_relabel_configs", "target_limit", "keep_dropped_targets", "scrape_failure_log_file", "extra_scrape_metrics",
		// Native histograms, written as their classic series; an NHCB is the classic histogram it came from.
		"always_scrape_classic_histograms", "scrape_native_histograms", "native_histogram_bucket_limit",
		"native_histogram_min_bucket_factor", "convert_classic_histograms_to_nhcb",
		// Service discovery and the HTTP client configuration come whole.
		"<service discovery>", "<http client>"}
	reported := []string{"track_timestamps_staleness", "fallback_scrape_protocol", "metric_name_validation_scheme"}
	var fields []string
	typ := reflect.TypeFor[promconfig.ScrapeConfig]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case f.Name == "ServiceDiscoveryConfigs":
			name = "<service discovery>"
		case f.Name == "HTTPClientConfig":
			name = "<http client>"
		case name == "" || name == "-":
			continue
		}
		fields = append(fields, name)
	}
	require.ElementsMatch(t, fields, slices.Concat(used, reported))
}

// The credential, certificate and kubeconfig files of a job's service discovery are checked as the
// scraper's are: Prometheus' discoverers read them whole with os.ReadFile when they start (and on every
// request), so a named pipe held the plugin's Start forever, and /dev/zero ran it out of memory.
func TestLoadRefusesSDFilesThatAreNotBounded(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	main := filepath.Join(dir, "prometheus.yml")
	for _, tc := range []struct{ name, sd, want string }{
		{"http_sd ca_file", "http_sd_configs: [{url: 'http://127.0.0.1:1/', tls_config: {ca_file: " + fifo + "}}]",
			`job "a": http_sd_configs[0]: tls_config.ca_file: ` + fifo + ": not a regular file (a named pipe)"},
		{"http_sd credentials_file", "http_sd_configs: [{url: 'http://127.0.0.1:1/', authorization: {credentials_file: /dev/zero}}]",
			`job "a": http_sd_configs[0]: authorization.credentials_file: /dev/zero: not a regular file (a character device)`},
		{"kubernetes kubeconfig_file", "kubernetes_sd_configs: [{role: pod, kubeconfig_file: /dev/zero}]",
			`job "a": kubernetes_sd_configs[0]: kubeconfig_file: /dev/zero: not a regular file (a character device)`},
		{"consul http_headers", "consul_sd_configs: [{server: '127.0.0.1:1', http_headers: {X: {files: [/dev/zero]}}}]",
			`job "a": consul_sd_configs[0]: http_headers.X.files: /dev/zero: not a regular file (a character device)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, writeFile(main, "scrape_configs:\n  - job_name: a\n    "+tc.sd+"\n"))
			_, err := Load(main, slog.New(slog.DiscardHandler))
			require.ErrorContains(t, err, tc.want)
		})
	}
	// A file not there yet is let be, as for the scraper's (a token mounted later).
	require.NoError(t, writeFile(main, "scrape_configs:\n  - job_name: a\n    http_sd_configs: [{url: 'http://127.0.0.1:1/', authorization: {credentials_file: "+filepath.Join(dir, "later")+"}}]\n"))
	_, err := Load(main, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
}

// A job's native-histogram options reach its scraper, and scraping them asks for protobuf first, as
// Prometheus does.
func TestNativeHistogramOptions(t *testing.T) {
	job := loadJob(t, "", "scrape_native_histograms: true\nnative_histogram_bucket_limit: 160\n"+
		"native_histogram_min_bucket_factor: 1.1\nalways_scrape_classic_histograms: true")
	require.True(t, job.Scraper.ScrapeNativeHistograms)
	require.Equal(t, 160, job.Scraper.NativeHistogramBucketLimit)
	require.Equal(t, 1.1, job.Scraper.NativeHistogramMinBucketFactor)
	require.True(t, job.Scraper.AlwaysScrapeClassicHistograms)
	require.True(t, strings.HasPrefix(job.Extras.Accept, "application/vnd.google.protobuf;"), job.Extras.Accept)
	require.False(t, loadJob(t, "", "").Scraper.ScrapeNativeHistograms)
}

// A job's target_limit and keep_dropped_targets are the scraper's target-limit and keep-dropped-targets;
// Prometheus' keep_dropped_targets of 0 (keep them all) is the scrapers' bound here.
func TestTargetGuards(t *testing.T) {
	for _, tc := range []struct {
		name, global, options string
		limit, keep           int
	}{
		{"unset", "", "", 0, scrape.DefaultKeepDroppedTargets},
		{"set", "", "target_limit: 3\nkeep_dropped_targets: 2", 3, 2},
		{"global", "keep_dropped_targets: 7", "", 0, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := loadJob(t, tc.global, tc.options).Scraper
			require.NoError(t, c.Init())
			require.Equal(t, tc.limit, c.TargetLimit)
			require.Equal(t, tc.keep, c.KeepDroppedTargets)
		})
	}
}

// A job's scrape_failure_log_file, or the global one, is the scraper's scrape-failure-log-file, relative
// to the configuration's directory as Prometheus has it.
func TestScrapeFailureLogFile(t *testing.T) {
	for _, tc := range []struct{ name, global, options, want string }{
		{"unset", "", "", ""},
		{"job", "", "scrape_failure_log_file: /var/log/job.log", "/var/log/job.log"},
		{"global", "scrape_failure_log_file: /var/log/all.log", "", "/var/log/all.log"},
		{"job over global", "scrape_failure_log_file: /var/log/all.log", "scrape_failure_log_file: /var/log/job.log", "/var/log/job.log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := loadJob(t, tc.global, tc.options)
			require.Equal(t, tc.want, job.Scraper.ScrapeFailureLogFile)
			require.Empty(t, job.Ignored)
		})
	}
	job := loadJob(t, "", "scrape_failure_log_file: failures.log")
	require.True(t, filepath.IsAbs(job.Scraper.ScrapeFailureLogFile))
	require.Equal(t, "failures.log", filepath.Base(job.Scraper.ScrapeFailureLogFile))
}

// A job's extra_scrape_metrics, or the global one, is the scraper's extra-scrape-metrics.
func TestExtraScrapeMetrics(t *testing.T) {
	require.False(t, loadJob(t, "", "").Scraper.ExtraScrapeMetrics)
	require.True(t, loadJob(t, "", "extra_scrape_metrics: true").Scraper.ExtraScrapeMetrics)
	require.True(t, loadJob(t, "extra_scrape_metrics: true", "").Scraper.ExtraScrapeMetrics)
	require.False(t, loadJob(t, "extra_scrape_metrics: true", "extra_scrape_metrics: false").Scraper.ExtraScrapeMetrics)
}

// A job's http_headers reach its scraper's client as Prometheus read them (the scraper's http-headers
// key is the same configuration), and a reserved header is refused by Prometheus' loader, naming it.
func TestHTTPHeaders(t *testing.T) {
	job := loadJob(t, "", `http_headers: {X-Tenant: {values: [acme]}, X-Key: {secrets: [s3cret]}}`)
	require.Equal(t, map[string]commonconfig.Header{
		"X-Tenant": {Values: []string{"acme"}},
		"X-Key":    {Secrets: []commonconfig.Secret{"s3cret"}},
	}, job.Extras.HTTPClient.HTTPHeaders.Headers)

	path := filepath.Join(t.TempDir(), "prometheus.yml")
	require.NoError(t, writeFile(path, "scrape_configs:\n  - job_name: j\n    http_headers: {host: {values: [x]}}\n"))
	_, err := Load(path, slog.New(slog.DiscardHandler))
	require.ErrorContains(t, err, `setting header "Host" is not allowed`)
}

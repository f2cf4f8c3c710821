// Package scrape fetches targets in the Prometheus exposition formats and hands every sample, with the
// target's labels applied, to a Sink. It knows nothing of discovery providers or of Telegraf.
package scrape

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/influxdata/telegraf/config"
	promconfig "github.com/prometheus/common/config"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// Defaults of Kapacitor's [[scraper]] keys.
const (
	DefaultScrapeInterval = time.Minute
	DefaultScrapeTimeout  = 10 * time.Second
	DefaultScheme         = "http"
	DefaultMetricsPath    = "/metrics"
)

// DefaultBodySizeLimit is body-size-limit's default, 64 MiB: without a limit (Prometheus has none) a broken
// or hostile target makes a scrape hold gigabytes. vmagent's 16 MiB is too little for real exporters:
// kube-state-metrics writes about 4 KiB per pod, 32 MiB at some 8,000 pods, and kube-apiserver's /metrics
// passes 32 MiB on large installations. 64 MiB takes about 16,000 pods; larger clusters raise it for
// that job.
const DefaultBodySizeLimit = 64 << 20

// DefaultKeepDroppedTargets is keep-dropped-targets' default: the status page and the targets API list at
// most 1,000 of a scraper's dropped targets, and count the rest. Prometheus keeps them all by default, but
// each holds every label discovery gave it, and a job that keeps a few targets of a large discovery (one
// app's pods of a Kubernetes cluster) drops nearly all the others: held whole, a cluster of 100,000 pods
// costs some 200 MB at 2 KiB of labels a pod, for a list nobody reads past its first screens.
const DefaultKeepDroppedTargets = 1000

// Config is what a scrape job uses to scrape, with the keys of Kapacitor's [[scraper]] section: its name,
// which the targets' job label takes, and how its targets are fetched. Where its metrics go, where its
// targets come from and whether it runs are the section's (package kapacitor's Scraper).
type Config struct {
	Name           string              `toml:"name"`
	Scheme         string              `toml:"scheme"`
	MetricsPath    string              `toml:"metrics-path"`
	Params         map[string][]string `toml:"params"`
	ScrapeInterval config.Duration     `toml:"scrape-interval"`
	ScrapeTimeout  config.Duration     `toml:"scrape-timeout"`
	ProxyURL       string              `toml:"proxy-url"`
	// Blacklist holds instances (host:port, as the instance label shows them) that are not scraped.
	Blacklist []string `toml:"blacklist"`
	httpconfig.Auth
	// BearerTokenFile holds the bearer token, read on every scrape as Prometheus reads its
	// bearer_token_file, so that a rotated token is used at once.
	BearerTokenFile string `toml:"bearer-token-file"`
	httpconfig.TLS
	// HTTPHeaders are sent on every scrape, as Prometheus 3's http_headers; their secrets, as the
	// credentials, to the target's origin only.
	HTTPHeaders httpconfig.Headers `toml:"http-headers"`

	// Beyond Kapacitor: Prometheus' scrape options, with its semantics.
	RelabelConfigs       []*Relabel `toml:"relabel-configs"`
	MetricRelabelConfigs []*Relabel `toml:"metric-relabel-configs"`
	HonorLabels          bool       `toml:"honor-labels"`
	HonorTimestamps      *bool      `toml:"honor-timestamps"`
	SampleLimit          int        `toml:"sample-limit"`
	// TargetLimit fails every target of the scraper when it has more (0: no limit).
	TargetLimit int `toml:"target-limit"`
	// SeriesLimit bounds the series of each target within a day (seriesWindow), as vmagent's series_limit:
	// the samples of new series past it are dropped and counted (0: no limit).
	SeriesLimit int `toml:"series-limit"`
	// KeepDroppedTargets bounds the list of targets relabeling dropped (0: DefaultKeepDroppedTargets,
	// negative: no bound).
	KeepDroppedTargets    int         `toml:"keep-dropped-targets"`
	BodySizeLimit         config.Size `toml:"body-size-limit"`
	LabelLimit            int         `toml:"label-limit"`
	LabelNameLengthLimit  int         `toml:"label-name-length-limit"`
	LabelValueLengthLimit int         `toml:"label-value-length-limit"`
	FollowRedirects       *bool       `toml:"follow-redirects"`
	EnableCompression     *bool       `toml:"enable-compression"`
	// Native histograms (native.go): scraped when asked for, and written as their classic series.
	ScrapeNativeHistograms         bool    `toml:"scrape-native-histograms"`
	NativeHistogramBucketLimit     int     `toml:"native-histogram-bucket-limit"`
	NativeHistogramMinBucketFactor float64 `toml:"native-histogram-min-bucket-factor"`
	AlwaysScrapeClassicHistograms  bool    `toml:"always-scrape-classic-histograms"`
	// ScrapeFailureLogFile, when set, gets a JSON line for every failed scrape, as Prometheus 3's
	// scrape_failure_log_file (failurelog.go).
	ScrapeFailureLogFile string `toml:"scrape-failure-log-file"`
	// ExtraScrapeMetrics adds Prometheus' extra synthetic series, and series-limit's (extrametrics.go).
	ExtraScrapeMetrics bool `toml:"extra-scrape-metrics"`

	// relabel-configs and metric-relabel-configs as Prometheus' rules, made by Validate.
	relabel       []*relabel.Config
	metricRelabel []*relabel.Config
}

// JobExtras is what a job of a prometheus.yml (package promconf) gives its scraper beyond the keys of its
// Config, all of it read by Prometheus' own loader.
type JobExtras struct {
	// Relabel and MetricRelabel are the job's rules, applied before any relabel-configs and
	// metric-relabel-configs.
	Relabel, MetricRelabel []*relabel.Config
	// HTTPClient is the job's whole HTTP client configuration (auth, OAuth2, TLS, proxy, headers...), used
	// as is instead of the Kapacitor keys.
	HTTPClient *promconfig.HTTPClientConfig
	// Accept is the job's Accept header, built from its scrape_protocols; empty, the scrapers' own.
	Accept string
}

// isTrue reads an optional boolean whose default is true.
func isTrue(b *bool) bool { return b == nil || *b }

// Init applies the defaults and validates every key (SetToDefault, then Validate). Its errors name the key.
func (c *Config) Init() error {
	c.SetToDefault()
	return c.Validate()
}

// SetToDefault gives every unset key its default value.
func (c *Config) SetToDefault() {
	if c.Scheme == "" {
		c.Scheme = DefaultScheme
	}
	if c.MetricsPath == "" {
		c.MetricsPath = DefaultMetricsPath
	}
	if c.ScrapeInterval == 0 {
		c.ScrapeInterval = config.Duration(DefaultScrapeInterval)
	}
	if c.ScrapeTimeout == 0 && c.ScrapeInterval > 0 {
		// As Prometheus does: the default timeout, but never longer than the interval.
		c.ScrapeTimeout = config.Duration(min(DefaultScrapeTimeout, time.Duration(c.ScrapeInterval)))
	}
	if c.BodySizeLimit == 0 {
		c.BodySizeLimit = DefaultBodySizeLimit // a negative one means no limit
	}
	if c.KeepDroppedTargets == 0 {
		c.KeepDroppedTargets = DefaultKeepDroppedTargets // a negative one means no bound
	}
}

// Validate checks every key, after SetToDefault, and changes none: it only keeps the relabeling rules
// compiled. Its errors name the key, one per line, in order.
func (c *Config) Validate() error {
	return errors.Join(c.Problems()...)
}

// Problems is Validate's errors, one per key, sorted, for a section that adds its own.
func (c *Config) Problems() []error {
	var errs []error
	fail := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if strings.TrimSpace(c.Name) == "" {
		fail("name", "required")
	}
	switch c.Scheme {
	case "http", "https":
	default:
		fail("scheme", "%q must be http or https", c.Scheme)
	}
	if !strings.HasPrefix(c.MetricsPath, "/") {
		fail("metrics-path", "%q must start with /", c.MetricsPath)
	}
	switch {
	case c.ScrapeInterval < 0:
		fail("scrape-interval", "%s is negative", time.Duration(c.ScrapeInterval))
	case c.ScrapeInterval < config.Duration(time.Millisecond):
		fail("scrape-interval", "%s is under 1ms, the finest step of Prometheus' durations", time.Duration(c.ScrapeInterval))
	}
	switch {
	case c.ScrapeTimeout < 0:
		fail("scrape-timeout", "%s is negative", time.Duration(c.ScrapeTimeout))
	case c.ScrapeTimeout > 0 && c.ScrapeTimeout < config.Duration(time.Millisecond):
		fail("scrape-timeout", "%s is under 1ms, the finest step of Prometheus' durations", time.Duration(c.ScrapeTimeout))
	case c.ScrapeTimeout > 0 && c.ScrapeTimeout > c.ScrapeInterval:
		fail("scrape-timeout", "%s is longer than scrape-interval %s", time.Duration(c.ScrapeTimeout), time.Duration(c.ScrapeInterval))
	}
	if _, err := httpconfig.ParseProxy(c.ProxyURL); err != nil {
		fail("proxy-url", "%v", err)
	}
	if err := c.Auth.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.BearerTokenFile != "" && (!c.BearerToken.Empty() || c.Username != "" || !c.Password.Empty()) {
		fail("bearer-token-file", "excludes bearer-token and username/password")
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, err)
	}
	for name := range c.Params {
		if name == "" {
			fail("params", "empty parameter name")
		}
	}
	var err error
	if c.relabel, err = relabelConfigs("relabel-configs", c.RelabelConfigs); err != nil {
		errs = append(errs, err)
	}
	if c.metricRelabel, err = relabelConfigs("metric-relabel-configs", c.MetricRelabelConfigs); err != nil {
		errs = append(errs, err)
	}
	for key, limit := range map[string]int64{
		"sample-limit": int64(c.SampleLimit), "target-limit": int64(c.TargetLimit),
		"series-limit": int64(c.SeriesLimit), "label-limit": int64(c.LabelLimit),
		"label-name-length-limit": int64(c.LabelNameLengthLimit), "label-value-length-limit": int64(c.LabelValueLengthLimit),
		"native-histogram-bucket-limit": int64(c.NativeHistogramBucketLimit),
	} {
		if limit < 0 {
			fail(key, "%d is negative", limit)
		}
	}
	if c.NativeHistogramMinBucketFactor < 0 || math.IsNaN(c.NativeHistogramMinBucketFactor) {
		fail("native-histogram-min-bucket-factor", "%v is not a factor (1 or more; 0 or 1: no minimum)", c.NativeHistogramMinBucketFactor)
	}
	SortErrors(errs)
	return errs
}

// SortErrors orders errors by their text, as Validate's are.
func SortErrors(errs []error) {
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
}

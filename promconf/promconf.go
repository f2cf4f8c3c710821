// Package promconf turns the scrape_configs of a Prometheus configuration file into scrapers and
// discoverers. The file is read by Prometheus' own loader, so every option means what it means in
// Prometheus: each job becomes one scrape.Config, and each of its service-discovery configurations one
// discoverer that the job's scraper takes targets from.
package promconf

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"

	"github.com/influxdata/telegraf/config"
	commonconfig "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"go.yaml.in/yaml/v2"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/internal/conffile"
	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// Service is the discovery.Key service of a job's discoverers.
const Service = "prometheus"

// Job is one scrape_config of the file.
type Job struct {
	// Scraper is the job's scraper configuration, not yet initialised.
	Scraper *scrape.Config
	// Extras is what the job gives its scraper beyond the keys of Scraper (scrape.New takes both).
	Extras *scrape.JobExtras
	// Discoverers are the job's service-discovery configurations, one per key. A job's static_configs
	// are one of them, as in Prometheus.
	Discoverers discovery.Configs
	// Keys are the keys of Discoverers in the order of the file.
	Keys []discovery.Key
	// Ignored names the options the job sets that have no effect here.
	Ignored []string
}

// Load reads the scrape_configs of a Prometheus configuration file (and of its scrape_config_files), with
// the global defaults applied and relative paths resolved against the file's directory, in their order.
// Each file must be a regular file of at most conffile.MaxSize bytes.
func Load(path string, logger *slog.Logger) ([]*Job, error) {
	cfg, err := loadFile(path, logger)
	if err != nil {
		return nil, err
	}
	scrapeConfigs, err := scrapeConfigs(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	jobs := make([]*Job, 0, len(scrapeConfigs))
	for _, sc := range scrapeConfigs {
		if err := checkSDFiles(sc); err != nil {
			return nil, fmt.Errorf("%s: job %q: %w", path, sc.JobName, err)
		}
		jobs = append(jobs, Convert(sc))
	}
	return jobs, nil
}

// loadFile is promconfig.LoadFile, with the file read within the limit.
func loadFile(path string, logger *slog.Logger) (*promconfig.Config, error) {
	data, err := conffile.Read(path, false)
	if err != nil {
		return nil, err
	}
	cfg, err := promconfig.Load(string(data), logger)
	if err != nil {
		return nil, fmt.Errorf("parsing YAML file %s: %w", path, err)
	}
	cfg.SetDirectory(filepath.Dir(path))
	return cfg, nil
}

// ScrapeConfigFiles returns the scrape_config_files patterns of a Prometheus configuration file, resolved
// against its directory: the files its jobs may come from, for a watch of them.
func ScrapeConfigFiles(path string) ([]string, error) {
	cfg, err := loadFile(path, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, err
	}
	return cfg.ScrapeConfigFiles, nil
}

// scrapeConfigs is cfg.GetScrapeConfigs, with the same merge, validation and errors, but with each of the
// scrape_config_files read by conffile.Read. Prometheus reads them with os.ReadFile, which a check of
// stat() beforehand cannot make safe: /proc/self/pagemap is a regular file of size 0 that reads on for
// gigabytes, and a file may change between the check and the read.
func scrapeConfigs(cfg *promconfig.Config) ([]*promconfig.ScrapeConfig, error) {
	scfgs := slices.Clone(cfg.ScrapeConfigs)
	jobNames := make(map[string]string, len(scfgs))
	for _, sc := range scfgs {
		jobNames[sc.JobName] = "main config file"
	}
	for _, pattern := range cfg.ScrapeConfigFiles {
		files, err := filepath.Glob(pattern)
		if err != nil {
			return nil, fmt.Errorf("error retrieving scrape config files for %q: %w", pattern, err)
		}
		for _, filename := range files {
			content, err := conffile.Read(filename, false)
			if err != nil {
				return nil, fmt.Errorf("scrape_config_files: %w", err)
			}
			var fromFile promconfig.ScrapeConfigs
			if err := yaml.UnmarshalStrict(content, &fromFile); err != nil {
				return nil, fileErr(filename, err)
			}
			for _, sc := range fromFile.ScrapeConfigs {
				if err := sc.Validate(cfg.GlobalConfig); err != nil {
					return nil, fileErr(filename, err)
				}
				if first, ok := jobNames[sc.JobName]; ok {
					return nil, fileErr(filename, fmt.Errorf("found multiple scrape configs with job name %q, first found in %s", sc.JobName, first))
				}
				jobNames[sc.JobName] = fmt.Sprintf("%q", absolute(filename))
				sc.SetDirectory(filepath.Dir(filename))
				scfgs = append(scfgs, sc)
			}
		}
	}
	return scfgs, nil
}

// fileErr and absolute are Prometheus' fileErr and filePath: an error of a scrape_config_files file names
// it by its absolute path.
func fileErr(filename string, err error) error {
	return fmt.Errorf("%q: %w", absolute(filename), err)
}

func absolute(filename string) string {
	if abs, err := filepath.Abs(filename); err == nil {
		return abs
	}
	return filename
}

// Convert maps one validated scrape_config (one Prometheus has read, with its defaults) onto a scraper and
// its discoverers: a job of the file, or one made elsewhere (the prometheus-operator's monitors).
func Convert(sc *promconfig.ScrapeConfig) *Job {
	client := sc.HTTPClientConfig
	job := &Job{
		Scraper: &scrape.Config{
			Name:            sc.JobName,
			Scheme:          sc.Scheme,
			MetricsPath:     sc.MetricsPath,
			Params:          maps.Clone(sc.Params),
			ScrapeInterval:  config.Duration(sc.ScrapeInterval),
			ScrapeTimeout:   config.Duration(sc.ScrapeTimeout),
			HonorLabels:     sc.HonorLabels,
			HonorTimestamps: &sc.HonorTimestamps,
			SampleLimit:     int(sc.SampleLimit),
			TargetLimit:     int(min(sc.TargetLimit, math.MaxInt)),
			// Prometheus' 0 keeps every dropped target; here it is the scrapers' bound, on purpose.
			KeepDroppedTargets:    int(min(sc.KeepDroppedTargets, math.MaxInt)),
			BodySizeLimit:         config.Size(sc.BodySizeLimit),
			LabelLimit:            int(sc.LabelLimit),
			LabelNameLengthLimit:  int(sc.LabelNameLengthLimit),
			LabelValueLengthLimit: int(sc.LabelValueLengthLimit),
			EnableCompression:     &sc.EnableCompression,
			// Native histograms are written as their classic series; the loader has set the job's
			// scrape_protocols to protobuf first when it scrapes them (the Accept header below).
			ScrapeNativeHistograms:         sc.ScrapeNativeHistogramsEnabled(),
			NativeHistogramBucketLimit:     int(sc.NativeHistogramBucketLimit),
			NativeHistogramMinBucketFactor: sc.NativeHistogramMinBucketFactor,
			AlwaysScrapeClassicHistograms:  sc.AlwaysScrapeClassicHistogramsEnabled(),
			// The loader has set a job's from the global one when the job has none.
			ScrapeFailureLogFile: sc.ScrapeFailureLogFile,
			ExtraScrapeMetrics:   sc.ExtraScrapeMetricsEnabled(),
		},
		Extras: &scrape.JobExtras{
			Relabel:       sc.RelabelConfigs,
			MetricRelabel: sc.MetricRelabelConfigs,
			HTTPClient:    &client,
			Accept:        acceptHeader(sc),
		},
		Discoverers: make(discovery.Configs, len(sc.ServiceDiscoveryConfigs)),
	}
	for i, sd := range sc.ServiceDiscoveryConfigs {
		// The job name, the mechanism and the index: unique, since a job name never ends in
		// "/<mechanism>/<index>" of another job's, and readable in the discoverer statistics.
		key := discovery.Key{Service: Service, ID: fmt.Sprintf("%s/%s/%d", sc.JobName, sd.Name(), i)}
		job.Discoverers[key] = sd
		job.Keys = append(job.Keys, key)
	}
	job.Ignored = ignored(sc)
	return job
}

// acceptHeader is the Accept header Prometheus sends for the job (acceptHeader in its scrape package): its
// scrape_protocols in their order, with falling q values, the name escaping scheme on the formats that
// take one, and */* last. The loader has set scrape_protocols (the global one, else Prometheus' default)
// and checked the escaping scheme.
func acceptHeader(sc *promconfig.ScrapeConfig) string {
	scheme, err := promconfig.ToEscapingScheme(sc.MetricNameEscapingScheme, sc.MetricNameValidationScheme)
	if err != nil {
		scheme = model.NoEscaping
	}
	vals := make([]string, 0, len(sc.ScrapeProtocols)+1)
	weight := len(promconfig.ScrapeProtocolsHeaders) + 1
	for _, sp := range sc.ScrapeProtocols {
		val := promconfig.ScrapeProtocolsHeaders[sp]
		switch sp {
		case promconfig.PrometheusText1_0_0, promconfig.OpenMetricsText1_0_0, promconfig.OpenMetricsText2_0_0:
			val += ";" + model.EscapingKey + "=" + scheme.String()
		}
		vals = append(vals, fmt.Sprintf("%s;q=0.%d", val, weight))
		weight--
	}
	vals = append(vals, fmt.Sprintf("*/*;q=0.%d", weight))
	return strings.Join(vals, ",")
}

// ignored lists the options of a job that this scraper does not implement, each set to something else
// than what it does. Native histograms are scraped as the job says and written as the classic series they
// equal, so convert_classic_histograms_to_nhcb needs nothing: an NHCB is written as the classic histogram
// it came from. It reads a body without a known Content-Type as the text format, accepts UTF-8 names,
// and keeps no TSDB (no scrape_series_added). Every other field of a
// scrape_config is used (scrape_protocols and metric_name_escaping_scheme make the Accept header).
func ignored(sc *promconfig.ScrapeConfig) []string {
	var out []string
	for option, set := range map[string]bool{
		"track_timestamps_staleness": sc.TrackTimestampsStaleness,
		"fallback_scrape_protocol": sc.ScrapeFallbackProtocol != "" &&
			sc.ScrapeFallbackProtocol != promconfig.PrometheusText0_0_4,
		"metric_name_validation_scheme": sc.MetricNameValidationScheme == model.LegacyValidation,
	} {
		if set {
			out = append(out, option)
		}
	}
	slices.Sort(out)
	return out
}

// checkSDFiles refuses a file that a service discovery configuration of the job names for its discoverer
// to read (a CA, certificate, key, credential, header or kubeconfig file) when it exists but is not a
// regular file of at most conffile.MaxSize bytes, as scrape.New refuses the scraper's own. Prometheus'
// discoverers read them whole with os.ReadFile when they start and on every request: a named pipe held the
// plugin's Start forever, /dev/zero ran it out of memory. A file not there yet is let be, as Prometheus
// lets it be. The files are found by their keys: every string whose YAML key ends in _file, and the files of
// http_headers.
func checkSDFiles(sc *promconfig.ScrapeConfig) error {
	var errs []error
	seen := make(map[string]int)
	for _, sd := range sc.ServiceDiscoveryConfigs {
		section := fmt.Sprintf("%s_sd_configs[%d]", sd.Name(), seen[sd.Name()])
		seen[sd.Name()]++
		walkFiles(reflect.ValueOf(sd), "", func(key, path string) {
			if err := httpconfig.CheckFile(key, path); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", section, err))
			}
		})
	}
	return errors.Join(errs...)
}

// walkFiles calls f with the key (dotted YAML keys) and path of each file that v, a configuration as
// Prometheus' YAML loader filled it, names.
func walkFiles(v reflect.Value, key string, f func(key, path string)) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkFiles(v.Elem(), key, f)
		}
	case reflect.Map:
		if v.Type().Key().Kind() == reflect.String {
			for _, k := range v.MapKeys() {
				walkFiles(v.MapIndex(k), joinKey(key, k.String()), f)
			}
		}
	case reflect.Slice:
		for i := range v.Len() {
			walkFiles(v.Index(i), key, f)
		}
	case reflect.Struct:
		if h, ok := v.Interface().(commonconfig.Header); ok {
			for _, path := range h.Files {
				f(joinKey(key, "files"), path)
			}
			return
		}
		for i := range v.NumField() {
			field := v.Type().Field(i)
			name, _, _ := strings.Cut(field.Tag.Get("yaml"), ",")
			if !field.IsExported() || name == "-" {
				continue
			}
			if field.Type.Kind() == reflect.String && strings.HasSuffix(name, "_file") {
				if path := v.Field(i).String(); path != "" {
					f(joinKey(key, name), path)
				}
				continue
			}
			walkFiles(v.Field(i), joinKey(key, name), f)
		}
	}
}

func joinKey(key, name string) string {
	if key == "" || name == "" {
		return key + name
	}
	return key + "." + name
}

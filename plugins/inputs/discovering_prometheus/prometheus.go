package discovering_prometheus

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/discovering-prometheus/discovering-prometheus/promconf"
)

// Defaults of the db and rp of prometheus_config's jobs.
const (
	defaultPrometheusDB = "prometheus"
	defaultPrometheusRP = "autogen"
)

// PrometheusJob is a [inputs.discovering_prometheus.prometheus_jobs.<job>] table: where the metrics of one
// job of prometheus_config go, when not to prometheus_db and prometheus_rp.
type PrometheusJob struct {
	DB string `toml:"db"`
	RP string `toml:"rp"`
}

// initPrometheus adds a scraper for every job of prometheus_config, and their discoverers. It runs after
// initScrapers, whose scraper names the jobs must not take.
func (p *DiscoveringPrometheus) initPrometheus() []error {
	if p.PrometheusConfig == "" {
		if len(p.PrometheusJobs) > 0 {
			return []error{fmt.Errorf("prometheus_jobs: set without prometheus_config")}
		}
		return nil
	}
	if p.PrometheusDB == "" {
		p.PrometheusDB = defaultPrometheusDB
	}
	if p.PrometheusRP == "" {
		p.PrometheusRP = defaultPrometheusRP
	}
	jobs, err := promconf.Load(p.PrometheusConfig, newSlogLogger(p.Log))
	if err != nil {
		return []error{fmt.Errorf("prometheus_config: %w", err)}
	}
	if len(jobs) == 0 && len(p.enabled) == 0 {
		return []error{fmt.Errorf("prometheus_config: %s has no scrape_configs, and there is no [[scraper]]", p.PrometheusConfig)}
	}
	var errs []error
	taken := make(map[string]bool, len(p.enabled))
	for _, s := range p.enabled {
		taken[s.config.Name] = true
	}
	for _, job := range jobs {
		cfg := job.Scraper
		section := fmt.Sprintf("prometheus_config: job %q", cfg.Name)
		if taken[cfg.Name] {
			errs = append(errs, fmt.Errorf("%s: a [[scraper]] has that name", section))
			continue
		}
		cfg.DB, cfg.RP = p.PrometheusDB, p.PrometheusRP
		if route := p.PrometheusJobs[cfg.Name]; route != nil {
			cfg.DB, cfg.RP = cmp.Or(route.DB, cfg.DB), cmp.Or(route.RP, cfg.RP)
		}
		if err := errors.Join(cfg.Init(), routingValues(cfg)); err != nil {
			errs = append(errs, prefixLines(section, err))
			continue
		}
		if len(job.Ignored) > 0 {
			p.Log.Warnf("%s: %s: not supported here, ignored", section, strings.Join(job.Ignored, ", "))
		}
		for key, sd := range job.Discoverers {
			p.configs[key] = sd
		}
		p.enabled = append(p.enabled, &scraper{config: cfg, job: job.Extras, sources: job.Keys})
	}
	for _, name := range slices.Sorted(maps.Keys(p.PrometheusJobs)) {
		if !slices.ContainsFunc(jobs, func(j *promconf.Job) bool { return j.Scraper.Name == name }) {
			errs = append(errs, fmt.Errorf("prometheus_jobs: %q is not a job of %s", name, p.PrometheusConfig))
		}
	}
	return errs
}

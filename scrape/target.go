package scrape

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
)

// Target is one endpoint of a scraper, with its labels built by Prometheus' rules.
type Target struct {
	// Discovered holds the labels the discoverer gave, with the scraper's defaults (job, __scheme__,
	// __metrics_path__, __param_*), before anything is dropped.
	Discovered labels.Labels
	// Labels are the labels every sample of the target carries: job, instance and the discovered labels
	// that do not start with "__".
	Labels labels.Labels
	// labelList holds Labels as a slice, for merging with each sample's labels.
	labelList []labels.Label
	// URL is where the target is scraped.
	URL      string
	Interval time.Duration
	Timeout  time.Duration

	mu     sync.Mutex
	next   time.Time // the target is due from then on
	health Health
}

// Health is what the last scrape of a target found.
type Health struct {
	Up         bool
	LastScrape time.Time
	Duration   time.Duration
	Samples    int
	LastError  string
}

// Instance is the target's instance label.
func (t *Target) Instance() string { return t.Labels.Get(model.InstanceLabel) }

// Health returns what the last scrape found.
func (t *Target) Health() Health {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.health
}

// claim reports whether the target is due at now and, if it is, books its next scrape. A small tolerance
// keeps a target whose interval equals the gather interval from slipping a whole gather on timer jitter.
func (t *Target) claim(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Before(t.next.Add(-t.Interval / 10)) {
		return false
	}
	t.next = now.Add(t.Interval)
	return true
}

func (t *Target) report(h Health) {
	t.mu.Lock()
	t.health = h
	t.mu.Unlock()
}

// Dropped is a discovered target that relabeling dropped.
type Dropped struct {
	// Discovered are its labels before relabeling.
	Discovered labels.Labels
	// Rule is the index of the relabel-configs rule that dropped it.
	Rule int
}

// newTarget applies Prometheus' target rules to one discovered target: the scraper's defaults fill the
// labels the discoverer did not set, relabel-configs apply, __meta_* labels are dropped, instance defaults
// to the address. A target that relabeling drops comes back nil, with a nil error.
func newTarget(cfg *Config, target, group model.LabelSet) (*Target, error) {
	discovered := discoveredLabels(cfg, target, group)
	lb := labels.NewBuilder(discovered)
	t := &Target{Discovered: discovered}
	if !relabel.ProcessBuilder(lb, cfg.relabel...) {
		return nil, nil
	}

	addr := lb.Get(model.AddressLabel)
	if addr == "" {
		return nil, errors.New("no address")
	}
	if strings.Contains(addr, "/") {
		return nil, fmt.Errorf("%q is not a valid host:port address", addr)
	}
	var err error
	if t.Interval, err = parseDuration(lb.Get(model.ScrapeIntervalLabel)); err != nil {
		return nil, fmt.Errorf("%s: %w", model.ScrapeIntervalLabel, err)
	}
	if t.Timeout, err = parseDuration(lb.Get(model.ScrapeTimeoutLabel)); err != nil {
		return nil, fmt.Errorf("%s: %w", model.ScrapeTimeoutLabel, err)
	}
	if t.Timeout > t.Interval {
		return nil, fmt.Errorf("scrape timeout %s is longer than the interval %s", t.Timeout, t.Interval)
	}
	t.URL = targetURL(lb, cfg.Params)

	if lb.Get(model.InstanceLabel) == "" {
		lb.Set(model.InstanceLabel, addr)
	}
	// Only labels without the reserved "__" prefix reach the samples.
	lb.Range(func(l labels.Label) {
		if strings.HasPrefix(l.Name, model.ReservedLabelPrefix) {
			lb.Del(l.Name)
		}
	})
	t.Labels = lb.Labels()
	t.Labels.Range(func(l labels.Label) { t.labelList = append(t.labelList, l) })
	if err := t.Labels.Validate(func(l labels.Label) error {
		if !model.LabelValue(l.Value).IsValid() {
			return fmt.Errorf("invalid value for label %q: %q", l.Name, l.Value)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return t, nil
}

// discoveredLabels merges a target's labels over its group's and fills in the scraper's defaults (job,
// interval, timeout, path, scheme, params) where the discoverer set none.
func discoveredLabels(cfg *Config, target, group model.LabelSet) labels.Labels {
	lb := labels.NewBuilder(labels.EmptyLabels())
	for name, value := range group {
		lb.Set(string(name), string(value))
	}
	for name, value := range target {
		lb.Set(string(name), string(value))
	}
	defaults := []labels.Label{
		{Name: model.JobLabel, Value: cfg.Name},
		{Name: model.ScrapeIntervalLabel, Value: model.Duration(cfg.ScrapeInterval).String()},
		{Name: model.ScrapeTimeoutLabel, Value: model.Duration(cfg.ScrapeTimeout).String()},
		{Name: model.MetricsPathLabel, Value: cfg.MetricsPath},
		{Name: model.SchemeLabel, Value: cfg.Scheme},
	}
	for _, l := range defaults {
		if lb.Get(l.Name) == "" {
			lb.Set(l.Name, l.Value)
		}
	}
	for name, values := range cfg.Params {
		if key := model.ParamLabelPrefix + name; len(values) > 0 && lb.Get(key) == "" {
			lb.Set(key, values[0])
		}
	}
	return lb.Labels()
}

func parseDuration(s string) (time.Duration, error) {
	d, err := model.ParseDuration(s)
	if err != nil {
		return 0, err
	}
	if d <= 0 {
		return 0, fmt.Errorf("%q must be positive", s)
	}
	return time.Duration(d), nil
}

// targetURL builds the scrape URL from the target's labels; __param_* labels override the scraper's params.
func targetURL(lb *labels.Builder, params map[string][]string) string {
	query := make(url.Values, len(params))
	for name, values := range params {
		query[name] = values
	}
	lb.Range(func(l labels.Label) {
		if name, ok := strings.CutPrefix(l.Name, model.ParamLabelPrefix); ok {
			rest := query[name]
			if len(rest) > 0 {
				rest = rest[1:]
			}
			query[name] = append([]string{l.Value}, rest...)
		}
	})
	u := url.URL{
		Scheme:   lb.Get(model.SchemeLabel),
		Host:     lb.Get(model.AddressLabel),
		Path:     lb.Get(model.MetricsPathLabel),
		RawQuery: query.Encode(),
	}
	return u.String()
}

package scrape

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
	promscrape "github.com/prometheus/prometheus/scrape"
)

// Target is one endpoint of a scraper, with its labels built by Prometheus' rules.
type Target struct {
	// Labels are the labels every sample of the target carries: job, instance and the discovered labels
	// that do not start with "__".
	Labels labels.Labels
	// labelList holds Labels as a slice, for merging with each sample's labels.
	labelList []labels.Label
	// URL is where the target is scraped.
	URL      string
	Interval time.Duration
	Timeout  time.Duration

	mu sync.Mutex
	// discovered holds the labels the discoverer gave last, with the scraper's defaults (job, __scheme__,
	// __metrics_path__, __param_*), before anything is dropped.
	discovered labels.Labels
	next       time.Time // the target is due from then on
	running    bool      // a scrape of the target has started and not ended
	health     Health
	// series are the series of series-limit's window, used by one scrape at a time (claim).
	series seriesSet
	// elsewhere is set when other instances of a cluster scrape the target and this one does not.
	elsewhere atomic.Bool
	// replica is this instance's rank among the target's owners and their number, rank<<32 | owners:
	// 0 (alone) until SetReplica.
	replica atomic.Uint64
}

// SetReplica tells the target that this instance is the rank-th of its owners (from 0), of replicas in
// all: its scrapes are then 1/replicas of the interval after those of the rank before (Schedule).
func (t *Target) SetReplica(rank, replicas int) {
	if replicas < 1 || rank < 0 || rank >= replicas {
		rank, replicas = 0, 1
	}
	t.replica.Store(uint64(rank)<<32 | uint64(replicas))
}

// Replica is what SetReplica set: rank 0 of 1 unless told otherwise.
func (t *Target) Replica() (rank, replicas int) {
	r := t.replica.Load()
	if r == 0 {
		return 0, 1
	}
	return int(r >> 32), int(uint32(r))
}

// SetScrapedHere tells whether this instance scrapes the target (it does unless told otherwise); Run
// passes over the targets it does not.
func (t *Target) SetScrapedHere(here bool) { t.elsewhere.Store(!here) }

// ScrapedHere tells whether this instance scrapes the target.
func (t *Target) ScrapedHere() bool { return !t.elsewhere.Load() }

// Health is what the last scrape of a target found.
type Health struct {
	Up         bool
	LastScrape time.Time
	Duration   time.Duration
	Samples    int
	LastError  string
	// SeriesDropped counts the samples of new series that series-limit dropped.
	SeriesDropped int
}

// Discovered returns the labels the discoverer gave the target last, with the scraper's defaults, before
// relabeling: what Prometheus shows as its discoveredLabels.
func (t *Target) Discovered() labels.Labels {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.discovered
}

// rediscovered gives a target that stays the discovered labels it was found with again, which may differ
// where relabeling made the same target of them (Prometheus' Target.SetScrapeConfig).
func (t *Target) rediscovered(discovered labels.Labels) {
	t.mu.Lock()
	t.discovered = discovered
	t.mu.Unlock()
}

// Instance is the target's instance label.
func (t *Target) Instance() string { return t.Labels.Get(model.InstanceLabel) }

// Health returns what the last scrape found.
func (t *Target) Health() Health {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.health
}

// claim reports whether the target is due at now, or no more than early before, and, if it is, books its
// next scrape and marks it running until release. Gathers allow a tenth of the interval (gatherEarly), so
// that a target whose interval equals the gather interval does not slip a whole gather on timer jitter;
// the loop allows what a change of grain can move a phase (loopEarly). A target whose last scrape still runs
// (a gather stopped waiting for it) is not due: one target never has two scrapes at once.
func (t *Target) claim(now time.Time, early time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.running || now.Before(t.next.Add(-early)) {
		return false
	}
	t.next, t.running = now.Add(t.Interval), true
	return true
}

// notBefore is the earliest time claim takes the target (the zero time before its first scrape).
func (t *Target) notBefore() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.next.IsZero() {
		return t.next
	}
	return t.next.Add(-gatherEarly(t))
}

// gatherEarly is how long before its time a gather takes a target (claim).
func gatherEarly(t *Target) time.Duration { return t.Interval / 10 }

// release ends what claim started: the target's scrape has ended, or will not start.
func (t *Target) release() {
	t.mu.Lock()
	t.running = false
	t.mu.Unlock()
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

// buildTarget is newTarget for Sync: the discovered labels bounded first, and a panic (the labels
// package's, when relabeling makes a value too long to encode, which no bound on the discovered labels
// foresees) turned into the target's error, so that one target cannot stop the others of its Sync. A target
// relabeling dropped comes back nil, with a nil error.
func (s *Scraper) buildTarget(target, group model.LabelSet) (t *Target, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, fmt.Errorf("panic while applying the target rules: %v", r)
		}
	}()
	if err := checkDiscoveredBound("label", target); err != nil {
		return nil, err
	}
	if err := checkDiscoveredBound("group label", group); err != nil {
		return nil, err
	}
	return s.newTarget(target, group)
}

// newTarget applies Prometheus' target rules, by its own scrape.PopulateLabels, to one discovered target:
// the scraper's defaults fill the labels the discoverer did not set, relabel-configs apply, the address is
// checked, __meta_* labels are dropped, instance defaults to the address. A target that relabeling drops
// comes back nil, with a nil error.
func (s *Scraper) newTarget(target, group model.LabelSet) (*Target, error) {
	lb := labels.NewBuilder(labels.EmptyLabels())
	// Relabeling can make a value longer than the discovered ones were ("$1$1"), and PopulateLabels encodes
	// its result: the rules run first on the builder, which holds the labels unencoded, for the bound. Checked
	// on PopulateLabels' result it missed a value of exactly 16 MiB, which the encoding takes without a panic
	// but with a size of 0, reading the value's bytes back as labels of the target's choosing.
	promscrape.PopulateDiscoveredLabels(lb, s.prometheus, target, group)
	if !relabel.ProcessBuilder(lb, s.relabel...) {
		return nil, nil // dropped, as PopulateLabels would find again
	}
	if over, found := builderOverBound(lb); found {
		return nil, fmt.Errorf("after relabeling: %s", overBoundText("label", over.Name, over.Value))
	}
	res, err := s.populateLabels(lb, target, group)
	if err != nil {
		return nil, err
	}
	if res.IsEmpty() {
		return nil, nil
	}
	t := &Target{}
	if t.Interval, err = parseDuration(res.Get(model.ScrapeIntervalLabel)); err != nil {
		return nil, fmt.Errorf("%s: %w", model.ScrapeIntervalLabel, err)
	}
	if t.Timeout, err = parseDuration(res.Get(model.ScrapeTimeoutLabel)); err != nil {
		return nil, fmt.Errorf("%s: %w", model.ScrapeTimeoutLabel, err)
	}
	// Unlike Prometheus, a discoverer or relabeling may shorten the scraper's scrape-timeout but not
	// lengthen it: a discovery answer is outside input, and a timeout of 999h would hold the target's scrape,
	// and a one-shot run, that long. PopulateLabels has checked it against the interval as Prometheus does.
	if most := time.Duration(s.cfg.ScrapeTimeout); most > 0 {
		t.Timeout = min(t.Timeout, most)
	}
	lb.Reset(res)
	t.URL = targetURL(lb, s.cfg.Params)
	// Only labels without the reserved "__" prefix reach the samples, as Prometheus' Target.Labels has it.
	lb.Range(func(l labels.Label) {
		if strings.HasPrefix(l.Name, model.ReservedLabelPrefix) {
			lb.Del(l.Name)
		}
	})
	t.Labels = lb.Labels()
	t.Labels.Range(func(l labels.Label) { t.labelList = append(t.labelList, l) })
	t.discovered = s.discoveredLabels(target, group)
	return t, nil
}

// populateLabels is Prometheus' PopulateLabels for a target whose rules have run on lb already: it checks
// the address, interval and timeout and adds instance. PopulateLabels starts again from the discovered
// labels and runs the rules a second time; given the relabeled labels, with no rules, it does not, and
// finds the same, unless the rules removed a default label (job, __scheme__, ...), which it would set again:
// then it runs on the discovered labels.
func (s *Scraper) populateLabels(lb *labels.Builder, target, group model.LabelSet) (labels.Labels, error) {
	if len(s.relabel) == 0 || slices.ContainsFunc(s.defaultLabels, func(name string) bool { return lb.Get(name) == "" }) {
		return promscrape.PopulateLabels(lb, s.prometheus, target, group)
	}
	relabeled := make(model.LabelSet, 16)
	lb.Range(func(l labels.Label) { relabeled[model.LabelName(l.Name)] = model.LabelValue(l.Value) })
	return promscrape.PopulateLabels(lb, s.withoutRules, relabeled, nil)
}

// discoveredLabels are a target's labels before relabeling, by Prometheus' PopulateDiscoveredLabels: its
// own over its group's, with the scraper's defaults (job, interval, timeout, path, scheme, params, and the
// native-histogram options' labels, all false here) where the discoverer set none. Relabeling starts from
// them, and they are what Prometheus shows as a target's discoveredLabels.
func (s *Scraper) discoveredLabels(target, group model.LabelSet) labels.Labels {
	lb := labels.NewBuilder(labels.EmptyLabels())
	promscrape.PopulateDiscoveredLabels(lb, s.prometheus, target, group)
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

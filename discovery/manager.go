package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/targetgroup"
)

// Manager runs every configured discoverer in the background and keeps the current target groups of each.
// Readers poll it, Version telling whether anything changed since they last looked, or wait on Updated.
type Manager struct {
	configs  Configs
	logger   *slog.Logger
	registry *prometheus.Registry

	mu       sync.Mutex
	groups   map[Key]map[string]*targetgroup.Group // by the group's source
	version  uint64
	updated  chan struct{} // holds a token once the version changed, until a reader takes it
	waiting  map[Key]bool  // discoverers whose first answer is not complete yet
	settling map[Key]*time.Timer
	ready    chan struct{}
	answered chan struct{} // closed while no discoverer is waited for; a new one while some are (see Answered)
	stats    map[Key]*Stats
	logs     map[Key]*outageLog

	ctx        context.Context // the manager's, which Stop cancels; each discoverer runs under a child
	cancel     context.CancelFunc
	running    map[Key]*provider
	stopOnce   sync.Once
	metrics    []promdiscovery.DiscovererMetrics
	refresh    promdiscovery.RefreshMetricsManager
	mechanisms map[string]promdiscovery.DiscovererMetrics // by the SD mechanism's name, registered once
}

// provider is one running discoverer.
type provider struct {
	cancel   context.CancelFunc
	done     chan struct{} // closed when its Run returns
	received chan struct{} // closed when its receive goroutine returns
}

// Stats counts a discoverer's refreshes (the updates it sent) and failures.
type Stats struct {
	Refreshes uint64
	Errors    uint64
	// LastUpdate is when the last update came; zero before the first.
	LastUpdate time.Time
	// Failure is the last warning or error the discoverer logged, until it recovers.
	Failure string
}

// NewManager prepares a manager for the given configurations; Start runs them. Prometheus' SD metrics are
// registered on registry, which may be nil.
func NewManager(configs Configs, logger *slog.Logger, registry *prometheus.Registry) *Manager {
	if registry == nil {
		registry = prometheus.NewRegistry()
	}
	r := &Manager{
		configs:  configs,
		logger:   logger,
		registry: registry,
		groups:   make(map[Key]map[string]*targetgroup.Group, len(configs)),
		waiting:  make(map[Key]bool, len(configs)),
		settling: make(map[Key]*time.Timer, len(configs)),
		ready:    make(chan struct{}),
		answered: make(chan struct{}),
		updated:  make(chan struct{}, 1),
		stats:    make(map[Key]*Stats, len(configs)),
		logs:     make(map[Key]*outageLog, len(configs)),
	}
	for k := range configs {
		r.waiting[k] = true
		r.stats[k] = &Stats{}
	}
	if len(r.waiting) == 0 {
		close(r.ready)
		close(r.answered)
	}
	return r
}

// Start runs every discoverer until Stop. A discoverer that cannot be created is logged and left out; the
// others run.
func (r *Manager) Start() {
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.refresh = promdiscovery.NewRefreshMetrics(r.registry)
	r.register(r.refresh)
	r.mechanisms = make(map[string]promdiscovery.DiscovererMetrics)
	r.running = make(map[Key]*provider, len(r.configs))
	for _, key := range r.keys() {
		r.start(key, r.configs[key])
	}
}

// start runs one discoverer.
func (r *Manager) start(key Key, config promdiscovery.Config) {
	cfg := withRegularFiles(config)
	metrics, ok := r.mechanisms[cfg.Name()]
	if !ok {
		metrics = cfg.NewDiscovererMetrics(r.registry, r.refresh)
		r.register(metrics)
		r.mechanisms[cfg.Name()] = metrics
	}
	outage := newOutageLog(r.logger.Handler(), cfg, func() { r.countError(key) })
	r.mu.Lock()
	r.logs[key] = outage
	r.mu.Unlock()
	logger := slog.New(outage).With("discoverer", key.String())
	d, err := cfg.NewDiscoverer(promdiscovery.DiscovererOptions{
		Logger:  logger,
		Metrics: metrics,
		SetName: key.Service + "/" + key.ID,
	})
	if err != nil {
		logger.Error("cannot start discoverer", "err", err)
		r.update(key, nil)
		return
	}
	boundAnswers(d, cfg.Name(), logger)
	if w, ok := d.(failureWatcher); ok {
		outage.watch(w)
	}
	ctx, cancel := context.WithCancel(r.ctx)
	updates := make(chan []*targetgroup.Group)
	running := &provider{cancel: cancel, done: make(chan struct{}), received: make(chan struct{})}
	r.running[key] = running
	go func() {
		defer close(running.done)
		d.Run(ctx, updates)
	}()
	go func() {
		defer close(running.received)
		r.receive(ctx, key, updates)
	}()
}

// Apply changes the running discoverers to configs, by key: a discoverer whose configuration is the same
// (reflect.DeepEqual, as Prometheus' manager compares them) keeps running, untouched, with its targets; one
// whose configuration changed is stopped and started anew; one that is gone stops, and its targets go; a
// new one starts. It returns once the stopped ones have returned (up to stopWait, as Stop) and the new ones
// run. It is for a started manager, and is not called concurrently with Start, Stop or itself.
func (r *Manager) Apply(configs Configs) {
	var stopping []Key
	for _, key := range r.keys() {
		if next, ok := configs[key]; !ok || !reflect.DeepEqual(next, r.configs[key]) {
			stopping = append(stopping, key)
		}
	}
	r.stopProviders(stopping)
	r.mu.Lock()
	for _, key := range stopping {
		delete(r.groups, key)
		delete(r.stats, key)
		delete(r.logs, key)
		if t := r.settling[key]; t != nil {
			t.Stop()
			delete(r.settling, key)
		}
		r.settled(key) // one that is gone is not waited for
	}
	if len(stopping) > 0 { // their targets are gone; a new one's come with its updates
		r.version++
	}
	r.mu.Unlock()
	previous := r.configs
	r.configs = configs
	for _, key := range r.keys() {
		if _, kept := previous[key]; kept && !slices.Contains(stopping, key) {
			continue
		}
		r.mu.Lock()
		r.stats[key] = &Stats{}
		if len(r.waiting) == 0 {
			r.answered = make(chan struct{})
		}
		r.waiting[key] = true // until its first answer, as at the start
		r.mu.Unlock()
		r.start(key, configs[key])
	}
}

func (r *Manager) register(m promdiscovery.DiscovererMetrics) {
	if err := m.Register(); err != nil {
		r.logger.Warn("cannot register discovery metrics", "err", err)
		return
	}
	r.metrics = append(r.metrics, m)
}

// receive applies the updates of one discoverer until it stops or closes its channel (static does).
func (r *Manager) receive(ctx context.Context, key Key, updates <-chan []*targetgroup.Group) {
	for {
		select {
		case <-ctx.Done():
			return
		case groups, ok := <-updates:
			if !ok {
				return
			}
			r.update(key, groups)
		}
	}
}

func (r *Manager) update(key Key, groups []*targetgroup.Group) {
	r.mu.Lock()
	defer r.mu.Unlock()
	bySource := r.groups[key]
	if bySource == nil {
		bySource = make(map[string]*targetgroup.Group)
		r.groups[key] = bySource
	}
	for _, g := range groups {
		if g == nil {
			continue
		}
		// An empty group is how a provider says that a source is gone.
		if len(g.Targets) == 0 {
			delete(bySource, g.Source)
		} else {
			bySource[g.Source] = g
		}
	}
	if groups != nil {
		r.stats[key].Refreshes++
		r.stats[key].LastUpdate = time.Now()
		if h := r.logs[key]; h != nil && h.delivered(groups) {
			r.logger.Info("discoverer recovered", "discoverer", key.String())
		}
	}
	r.version++
	select {
	case r.updated <- struct{}{}:
	default: // a reader has yet to take the last one, and will see this change too
	}
	if !r.waiting[key] {
		return
	}
	if groups == nil { // it could not start: nothing more will come
		r.settled(key)
		return
	}
	// A discoverer's first answer may come in several updates (file SD sends one per file): it has
	// answered once its updates pause.
	if t := r.settling[key]; t != nil {
		t.Reset(settle)
	} else {
		r.settling[key] = time.AfterFunc(settle, func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.settled(key)
		})
	}
}

// settle is how long a discoverer's updates must pause before its first answer counts as complete.
const settle = 100 * time.Millisecond

// settled marks a discoverer's first answer complete; r.mu is held.
func (r *Manager) settled(key Key) {
	if !r.waiting[key] {
		return
	}
	delete(r.waiting, key)
	if len(r.waiting) == 0 {
		closeOnce(r.ready)
		closeOnce(r.answered)
	}
}

// closeOnce closes c unless it is closed already.
func closeOnce(c chan struct{}) {
	select {
	case <-c:
	default:
		close(c)
	}
}

func (r *Manager) countError(key Key) {
	r.mu.Lock()
	if st := r.stats[key]; st != nil { // nil once Apply removed the discoverer
		st.Errors++
	}
	r.mu.Unlock()
}

// Ready is closed once every discoverer has answered (its first updates have come and paused) or failed
// to start.
func (r *Manager) Ready() <-chan struct{} { return r.ready }

// Answered is closed once every discoverer running now has answered, those an Apply started included:
// unlike Ready, it is open again while one that an Apply started has not.
func (r *Manager) Answered() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.answered
}

// Waiting lists the discoverers that have not answered yet (see Ready), in order, so that a caller that
// stops waiting for them can say which.
func (r *Manager) Waiting() []Key {
	r.mu.Lock()
	defer r.mu.Unlock()
	var keys []Key
	for _, k := range r.keys() {
		if r.waiting[k] {
			keys = append(keys, k)
		}
	}
	return keys
}

// Updated receives once after any discoverer's targets changed, however many changes came since the last
// receive: for the one reader that keeps up with them.
func (r *Manager) Updated() <-chan struct{} { return r.updated }

// Version changes whenever any discoverer's targets change.
func (r *Manager) Version() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.version
}

// Groups returns the current target groups of one discoverer, ordered by source. The groups are shared:
// callers must not change them.
func (r *Manager) Groups(key Key) []*targetgroup.Group {
	r.mu.Lock()
	defer r.mu.Unlock()
	bySource := r.groups[key]
	groups := make([]*targetgroup.Group, 0, len(bySource))
	for _, g := range bySource {
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].Source < groups[j].Source })
	return groups
}

// Stats returns a copy of one discoverer's counters and state.
func (r *Manager) Stats(key Key) Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s Stats
	if st := r.stats[key]; st != nil {
		s = *st
	}
	if h := r.logs[key]; h != nil {
		s.Failure = h.failure()
	}
	return s
}

// stopWait is how long Stop waits for the discoverers to return.
const stopWait = time.Second

// Stop ends every discoverer. It waits for them up to stopWait, then logs those that have not returned and
// leaves them: one blocked where its context cannot reach (Prometheus' file SD opening a named pipe, say)
// must not hold the shutdown. Calling it again does nothing.
func (r *Manager) Stop() { r.stopOnce.Do(r.stop) }

func (r *Manager) stop() {
	if r.cancel != nil {
		r.cancel()
	}
	r.stopProviders(r.keys())
	r.mu.Lock()
	for _, t := range r.settling {
		t.Stop()
	}
	r.mu.Unlock()
	for _, m := range r.metrics {
		m.Unregister()
	}
	r.metrics = nil
}

// stopProviders stops the discoverers of keys and waits for them up to stopWait, then logs those that have
// not returned and leaves them (see Stop).
func (r *Manager) stopProviders(keys []Key) {
	for _, key := range keys {
		if p := r.running[key]; p != nil {
			p.cancel()
		}
	}
	deadline := time.NewTimer(stopWait)
	defer deadline.Stop()
	var stuck []string
	expired := false
	for _, key := range keys {
		p := r.running[key]
		if p == nil {
			continue
		}
		delete(r.running, key)
		<-p.received // it returns once cancelled
		if !expired {
			select {
			case <-p.done:
				continue
			case <-deadline.C:
				expired = true
			}
		}
		select {
		case <-p.done:
		default:
			stuck = append(stuck, key.String())
		}
	}
	if len(stuck) > 0 {
		r.logger.Warn(fmt.Sprintf("discoverers did not stop within %s, left running: %s", stopWait, strings.Join(stuck, ", ")))
	}
}

func (r *Manager) keys() []Key {
	keys := make([]Key, 0, len(r.configs))
	for k := range r.configs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Service != keys[j].Service {
			return keys[i].Service < keys[j].Service
		}
		return keys[i].ID < keys[j].ID
	})
	return keys
}

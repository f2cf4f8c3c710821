package discovery

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/prometheus/discovery/targetgroup"
)

// outageLog is the log of one discoverer, which the manager gives it: the records of Prometheus' SD (and
// of the provider's own code) pass on to the manager's logger, but a failure is logged once per outage,
// not at every refresh or retry, and counted. An outage ends when the discoverer delivers (the manager
// calls delivered) or when a record says so (a ZooKeeper session is back).
//
// Each SD words its failures its own way: what a record says is its provider's matcher's to tell.
type outageLog struct {
	next  slog.Handler
	state *outageState
}

type outageState struct {
	match   matcher
	onError func()

	mu      sync.Mutex
	failing map[string]string // the open failures: the text logged, by the scope failing ("" the whole discoverer)
	down    bool              // an outage of a matcher's once is open
	last    string            // the last failure's text, until the discoverer recovers
	watcher failureWatcher
}

// A matcher tells what a record of a provider's log says, and may rewrite it (its message, level and
// attributes) into the words the log shows.
type matcher func(r slog.Record) (slog.Record, event)

// event is what a record says of its discoverer.
type event struct {
	kind eventKind
	// scope is what failed, when it is not the whole discoverer: a path, which the groups whose source
	// starts with it end (file SD's sources are "path:index").
	scope string
	// once logs an outage once whatever its records say: several watches that fail alike, or a client that
	// retries on its own, word each failure differently. Such an outage is counted once. Otherwise a
	// failure is logged again when its text changes, and each is counted (one a refresh).
	once bool
	// recovered is the line logged, at info level, when a recovery event ends an outage.
	recovered string
}

type eventKind int

const (
	nothing  eventKind = iota // not about failing: logged as it is
	failure                   // logged once an outage (see once), counted, and told to the watcher
	detail                    // a failure the provider reports in a record of its own: logged at debug level, told to the watcher
	recovery                  // the discoverer is back, although it may deliver nothing new
)

// A failureWatcher is a discoverer that acts on the failures of its SD, as its matcher finds them: a
// failed refresh is an answer to marathon's watchdog, and the DNS discoverer names the first error in its
// own report.
type failureWatcher interface {
	sdFailed(r slog.Record)
}

// A logMatcher is an SD configuration whose discoverers need a matcher of their own; the others' is
// failsByText.
type logMatcher interface {
	logMatcher() matcher
}

// failsByText takes every warning or error for a failure of the discoverer, or, when it names a path
// (file SD's "Error reading file"), of that path alone: the discoverer has recovered only once every
// failing file has delivered again, not when another file does.
func failsByText(r slog.Record) (slog.Record, event) {
	if r.Level < slog.LevelWarn {
		return r, event{}
	}
	e := event{kind: failure}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "path" {
			e.scope = a.Value.String()
		}
		return true
	})
	return r, e
}

// failsOnce takes every warning or error for a failure of the discoverer, logged once an outage.
func failsOnce(r slog.Record) (slog.Record, event) {
	if r.Level < slog.LevelWarn {
		return r, event{}
	}
	return r, event{kind: failure, once: true}
}

// newOutageLog returns the log of a discoverer of cfg, which writes to next and counts failures through
// onError.
func newOutageLog(next slog.Handler, cfg any, onError func()) *outageLog {
	match := failsByText
	if m, ok := cfg.(logMatcher); ok {
		match = m.logMatcher()
	}
	return &outageLog{next: next, state: &outageState{match: match, onError: onError, failing: make(map[string]string)}}
}

// watch tells w of the failures from now on.
func (h *outageLog) watch(w failureWatcher) {
	h.state.mu.Lock()
	h.state.watcher = w
	h.state.mu.Unlock()
}

// Enabled passes every record from info up: the ZooKeeper client logs its failures at info level.
func (h *outageLog) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelInfo || h.next.Enabled(ctx, level)
}

func (h *outageLog) Handle(ctx context.Context, r slog.Record) error {
	r, e := h.state.match(r)
	switch e.kind {
	case failure, detail:
		if e.kind == detail || h.state.failed(e, r) {
			r.Level = slog.LevelDebug
		}
		if w := h.state.watching(); w != nil {
			w.sdFailed(r)
		}
	case recovery:
		if h.state.recovered() {
			r = slog.NewRecord(r.Time, slog.LevelInfo, e.recovered, r.PC)
		}
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// failed opens (or continues) a failure and counts it; it tells whether it repeats the open one.
func (s *outageState) failed(e event, r slog.Record) (repeated bool) {
	s.mu.Lock()
	s.last = recordText(r)
	if e.once {
		repeated = s.down
		s.down = true
	} else {
		last, open := s.failing[e.scope]
		repeated = open && last == s.last
		s.failing[e.scope] = s.last
	}
	s.mu.Unlock()
	if !repeated || !e.once {
		s.onError()
	}
	return repeated
}

// recovered ends every failure; it tells whether there was one.
func (s *outageState) recovered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	failing := s.down || len(s.failing) > 0
	clear(s.failing)
	s.down = false
	s.last = ""
	return failing
}

// failure is the last failure logged while the discoverer is failing, "" once it has recovered.
func (h *outageLog) failure() string {
	h.state.mu.Lock()
	defer h.state.mu.Unlock()
	return h.state.last
}

func (s *outageState) watching() failureWatcher {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watcher
}

// recordText is a record's message and attributes, which tell one failure from another.
func recordText(r slog.Record) string {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	return b.String()
}

// delivered ends the failures that the groups a discoverer sent end, so that the next one is logged again:
// a failure of the whole discoverer ends with any delivery, one of a path with a group from under it. It
// tells whether the discoverer was failing and no longer is.
func (h *outageLog) delivered(groups []*targetgroup.Group) (recovered bool) {
	s := h.state
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.down && len(s.failing) == 0 {
		return false
	}
	s.down = false
	delete(s.failing, "")
	for scope := range s.failing {
		if len(groups) == 0 || slices.ContainsFunc(groups, func(g *targetgroup.Group) bool {
			return g != nil && strings.HasPrefix(g.Source, scope)
		}) {
			delete(s.failing, scope)
		}
	}
	if len(s.failing) == 0 {
		s.last = ""
	}
	return len(s.failing) == 0
}

func (h *outageLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &outageLog{next: h.next.WithAttrs(attrs), state: h.state}
}

func (h *outageLog) WithGroup(name string) slog.Handler {
	return &outageLog{next: h.next.WithGroup(name), state: h.state}
}

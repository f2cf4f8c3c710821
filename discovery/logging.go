package discovery

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/prometheus/discovery/targetgroup"
)

// dedupHandler passes a discoverer's log records on, but a warning or error identical to the one before it
// is demoted to debug: a provider that fails on every refresh is logged once per change of state, not once
// per refresh. Every warning or error is counted through onError.
//
// A record that names a path (file SD's "Error reading file") is a failure of that file alone: the
// discoverer has recovered only once every failing file has delivered again, not when another file does.
type dedupHandler struct {
	next    slog.Handler
	state   *dedupState
	onError func()
}

type dedupState struct {
	mu      sync.Mutex
	failing map[string]string // the last failure logged, by the path it names ("" when none)
	last    string            // the last failure logged, until the discoverer recovers
}

func newDedupHandler(next slog.Handler, onError func()) *dedupHandler {
	return &dedupHandler{next: next, state: &dedupState{failing: make(map[string]string)}, onError: onError}
}

func (h *dedupHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelWarn || h.next.Enabled(ctx, level)
}

func (h *dedupHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelWarn {
		if !h.next.Enabled(ctx, r.Level) {
			return nil
		}
		return h.next.Handle(ctx, r)
	}
	h.onError()
	var b strings.Builder
	b.WriteString(r.Message)
	path := ""
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		if a.Key == "path" {
			path = a.Value.String()
		}
		return true
	})
	h.state.mu.Lock()
	repeated := h.state.failing[path] == b.String()
	h.state.failing[path] = b.String()
	h.state.last = b.String()
	h.state.mu.Unlock()
	if repeated {
		r.Level = slog.LevelDebug
		if !h.next.Enabled(ctx, r.Level) {
			return nil
		}
	}
	return h.next.Handle(ctx, r)
}

// reset forgets the failures that the delivered groups end, so that the next one is logged again: a
// failure naming no path ends with any delivery, one naming a path with a group from under it (file SD's
// sources are "path:index", ZooKeeper's the znodes under the path). It tells whether the discoverer was failing and no longer is.
func (h *dedupHandler) reset(groups ...*targetgroup.Group) (recovered bool) {
	h.state.mu.Lock()
	defer h.state.mu.Unlock()
	if len(h.state.failing) == 0 {
		return false
	}
	delete(h.state.failing, "")
	for path := range h.state.failing {
		if len(groups) == 0 || slices.ContainsFunc(groups, func(g *targetgroup.Group) bool {
			return g != nil && strings.HasPrefix(g.Source, path)
		}) {
			delete(h.state.failing, path)
		}
	}
	if len(h.state.failing) == 0 {
		h.state.last = ""
	}
	return len(h.state.failing) == 0
}

// failure is the last warning or error logged while the discoverer is failing, "" once it has recovered.
func (h *dedupHandler) failure() string {
	h.state.mu.Lock()
	defer h.state.mu.Unlock()
	return h.state.last
}

func (h *dedupHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &dedupHandler{next: h.next.WithAttrs(attrs), state: h.state, onError: h.onError}
}

func (h *dedupHandler) WithGroup(name string) slog.Handler {
	return &dedupHandler{next: h.next.WithGroup(name), state: h.state, onError: h.onError}
}

package discovery

import (
	"context"
	"log/slog"
	"strings"
	"sync"
)

// dedupHandler passes a discoverer's log records on, but a warning or error identical to the one before it
// is demoted to debug: a provider that fails on every refresh is logged once per change of state, not once
// per refresh. Every warning or error is counted through onError.
type dedupHandler struct {
	next    slog.Handler
	state   *dedupState
	onError func()
}

type dedupState struct {
	mu   sync.Mutex
	last string
}

func newDedupHandler(next slog.Handler, onError func()) *dedupHandler {
	return &dedupHandler{next: next, state: &dedupState{}, onError: onError}
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
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	h.state.mu.Lock()
	repeated := h.state.last == b.String()
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

// reset forgets the last failure, so that the next one is logged again: called when the discoverer delivers.
func (h *dedupHandler) reset() (wasFailing bool) {
	h.state.mu.Lock()
	defer h.state.mu.Unlock()
	wasFailing = h.state.last != ""
	h.state.last = ""
	return wasFailing
}

func (h *dedupHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &dedupHandler{next: h.next.WithAttrs(attrs), state: h.state, onError: h.onError}
}

func (h *dedupHandler) WithGroup(name string) slog.Handler {
	return &dedupHandler{next: h.next.WithGroup(name), state: h.state, onError: h.onError}
}

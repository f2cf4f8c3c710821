package discovering_prometheus

import (
	"context"
	"log"
	"log/slog"
	"strings"

	"github.com/influxdata/telegraf"

	"github.com/discovering-prometheus/discovering-prometheus/internal/safetext"
)

// slogHandler writes the records of the discovery and scrape packages (and of Prometheus' discoverers,
// which log through slog) to the plugin's Telegraf logger, at the matching level.
type slogHandler struct {
	log    telegraf.Logger
	prefix string // rendered attributes of With calls
	group  string
}

func newSlogLogger(log telegraf.Logger) *slog.Logger {
	return slog.New(&slogHandler{log: log})
}

func level(l slog.Level) telegraf.LogLevel {
	switch {
	case l >= slog.LevelError:
		return telegraf.Error
	case l >= slog.LevelWarn:
		return telegraf.Warn
	case l >= slog.LevelInfo:
		return telegraf.Info
	default:
		return telegraf.Debug
	}
}

func (h *slogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return level(l) <= h.log.Level()
}

func (h *slogHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(h.prefix)
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		h.write(&b, a)
		return true
	})
	// One line, of a bounded length: a record may carry what a target or a discoverer's API sent.
	msg := safetext.Line(b.String(), MaxLogLine)
	switch level(r.Level) {
	case telegraf.Error:
		h.log.Error(msg)
	case telegraf.Warn:
		h.log.Warn(msg)
	case telegraf.Info:
		h.log.Info(msg)
	default:
		h.log.Debug(msg)
	}
	return nil
}

// MaxLogLine bounds the messages the plugin logs, in bytes (safetext.MaxLogLine).
const MaxLogLine = safetext.MaxLogLine

func (h *slogHandler) write(b *strings.Builder, a slog.Attr) {
	if a.Equal(slog.Attr{}) {
		return
	}
	b.WriteString(" ")
	if h.group != "" {
		b.WriteString(h.group + ".")
	}
	b.WriteString(a.Key + "=" + a.Value.String())
}

func (h *slogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	// Attributes given by With (the scraper, the discoverer) lead the message, so each line says whose it is.
	var b strings.Builder
	b.WriteString(h.prefix)
	for _, a := range attrs {
		b.WriteString(a.Key + "=" + a.Value.String() + ": ")
	}
	return &slogHandler{log: h.log, prefix: b.String(), group: h.group}
}

func (h *slogHandler) WithGroup(name string) slog.Handler {
	return &slogHandler{log: h.log, prefix: h.prefix, group: name}
}

// kubernetesClientLog writes the records of client-go that are no kubernetes discoverer's failure (see
// discovery.SetKubernetesClientLog) through Go's standard logger, which Telegraf and the runner point at
// their own log, as one line that starts with the level indicator Telegraf's logger reads ("W! "): a line
// of klog's own format, written straight to stderr, was an error of unknown origin in the log of Telegraf's
// inputs.execd, and could be of any length.
type kubernetesClientLog struct{}

func (kubernetesClientLog) Enabled(context.Context, slog.Level) bool { return true }

func (kubernetesClientLog) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("kubernetes client: ")
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	indicator := "D! "
	switch level(r.Level) {
	case telegraf.Error:
		indicator = "E! "
	case telegraf.Warn:
		indicator = "W! "
	case telegraf.Info:
		indicator = "I! "
	}
	log.Print(indicator + "[inputs.discovering_prometheus] " + safetext.Line(b.String(), MaxLogLine))
	return nil
}

func (h kubernetesClientLog) WithAttrs([]slog.Attr) slog.Handler { return h }

func (h kubernetesClientLog) WithGroup(string) slog.Handler { return h }

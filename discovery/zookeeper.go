package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/prometheus/common/model"
	promdiscovery "github.com/prometheus/prometheus/discovery"
)

// ZooKeeper holds the keys that [[nerve]] and [[serverset]] share: the ensemble, the paths whose children
// are the members, and the session timeout.
type ZooKeeper struct {
	Servers []string        `toml:"servers"`
	Paths   []string        `toml:"paths"`
	Timeout config.Duration `toml:"timeout"`
}

// check validates the keys and returns the timeout, defaulted.
func (z *ZooKeeper) check() (model.Duration, error) {
	if len(z.Servers) == 0 {
		return 0, errors.New("servers: at least one ZooKeeper server is required")
	}
	for i, s := range z.Servers {
		if strings.TrimSpace(s) == "" {
			return 0, fmt.Errorf("servers[%d]: empty", i)
		}
	}
	if len(z.Paths) == 0 {
		return 0, errors.New("paths: at least one path is required")
	}
	for i, p := range z.Paths {
		if !strings.HasPrefix(p, "/") {
			return 0, fmt.Errorf("paths[%d]: %q must start with \"/\"", i, p)
		}
		if p != "/" && strings.HasSuffix(p, "/") {
			return 0, fmt.Errorf("paths[%d]: %q must not end with \"/\"", i, p)
		}
	}
	timeout, err := duration("timeout", z.Timeout, 10*time.Second)
	return model.Duration(timeout), err
}

// zookeeperSDConfig is Prometheus' nerve or serverset SD configuration, with discoverers that log a lost
// ZooKeeper once per failure state. The ZooKeeper client logs every attempt to reconnect (one a second
// while the ensemble is away) at info level; those become one error when the connection is lost and one
// info line when a session is back.
type zookeeperSDConfig struct {
	promdiscovery.Config
}

// NewDiscoverer implements promdiscovery.Config.
func (c zookeeperSDConfig) NewDiscoverer(opts promdiscovery.DiscovererOptions) (promdiscovery.Discoverer, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &zookeeperLog{next: opts.Logger.Handler(), state: &zookeeperState{}}
	h.state.dedup, _ = opts.Logger.Handler().(*dedupHandler)
	opts.Logger = slog.New(h)
	return c.Config.NewDiscoverer(opts)
}

// The ZooKeeper client's log lines (Printf formats, which Prometheus passes on as slog messages) that tell
// a connection lost from one that is back.
const (
	zookeeperConnectFailed = "failed to connect to %s: %v"
	zookeeperSessionUp     = "authenticated: id=%d, timeout=%d"
)

type zookeeperLog struct {
	next  slog.Handler
	state *zookeeperState
}

type zookeeperState struct {
	mu      sync.Mutex
	failing bool
	dedup   *dedupHandler // the runner's, when the discoverer runs in one
}

func (h *zookeeperLog) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelInfo || h.next.Enabled(ctx, level)
}

func (h *zookeeperLog) Handle(ctx context.Context, r slog.Record) error {
	switch {
	case r.Message == zookeeperConnectFailed:
		h.state.mu.Lock()
		first := !h.state.failing
		h.state.failing = true
		h.state.mu.Unlock()
		level := slog.LevelDebug
		if first {
			level = slog.LevelError
		}
		out := slog.NewRecord(r.Time, level, "cannot connect to ZooKeeper; keeping the last known targets", r.PC)
		// The client's arguments (server, error) arrive as one attribute keyed by the server.
		r.Attrs(func(a slog.Attr) bool {
			out.AddAttrs(slog.String("server", a.Key), slog.String("err", a.Value.String()))
			return false
		})
		r = out
	case r.Message == zookeeperSessionUp:
		h.state.mu.Lock()
		recovered := h.state.failing
		h.state.failing = false
		h.state.mu.Unlock()
		if !recovered {
			r = slog.NewRecord(r.Time, slog.LevelDebug, zookeeperPrintf(r), r.PC)
			break
		}
		// The paths' watches carry on in the session, so no update may come to end the failure state.
		if h.state.dedup != nil {
			h.state.dedup.reset()
		}
		r = slog.NewRecord(r.Time, slog.LevelInfo, "connected to ZooKeeper again", r.PC)
	case strings.Contains(r.Message, "%"):
		// The client's other chatter (connections opened and closed) is for debugging.
		r = slog.NewRecord(r.Time, slog.LevelDebug, zookeeperPrintf(r), r.PC)
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// zookeeperPrintf renders a client line as the client meant it: Prometheus passes the Printf arguments
// to slog as key-value pairs.
func zookeeperPrintf(r slog.Record) string {
	var args []any
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "!BADKEY" {
			args = append(args, a.Key)
		}
		args = append(args, a.Value.Any())
		return true
	})
	return fmt.Sprintf(r.Message, args...)
}

func (h *zookeeperLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &zookeeperLog{next: h.next.WithAttrs(attrs), state: h.state}
}

func (h *zookeeperLog) WithGroup(name string) slog.Handler {
	return &zookeeperLog{next: h.next.WithGroup(name), state: h.state}
}

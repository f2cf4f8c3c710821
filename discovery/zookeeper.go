package discovery

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
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

func (zookeeperSDConfig) logMatcher() matcher { return zookeeperMatch }

// The ZooKeeper client's log lines (Printf formats, which Prometheus passes on as slog messages) that tell
// a connection lost from one that is back.
const (
	zookeeperConnectFailed = "failed to connect to %s: %v"
	zookeeperSessionUp     = "authenticated: id=%d, timeout=%d"
)

// zookeeperMatch reads the ZooKeeper client's lines; the records of Prometheus' own code are failsByText's.
func zookeeperMatch(r slog.Record) (slog.Record, event) {
	switch {
	case r.Message == zookeeperConnectFailed:
		out := slog.NewRecord(r.Time, slog.LevelError, "cannot connect to ZooKeeper; keeping the last known targets", r.PC)
		// The client's arguments (server, error) arrive as one attribute keyed by the server.
		r.Attrs(func(a slog.Attr) bool {
			out.AddAttrs(slog.String("server", a.Key), slog.String("err", a.Value.String()))
			return false
		})
		return out, event{kind: failure, once: true}
	case r.Message == zookeeperSessionUp:
		// The paths' watches carry on in the session, so no update may come to end the outage.
		return zookeeperDebug(r), event{kind: recovery, recovered: "connected to ZooKeeper again"}
	case strings.Contains(r.Message, "%"):
		// The client's other chatter (connections opened and closed) is for debugging.
		return zookeeperDebug(r), event{}
	}
	return failsByText(r)
}

// zookeeperDebug renders a client line as the client meant it, at debug level: Prometheus passes the
// Printf arguments to slog as key-value pairs.
func zookeeperDebug(r slog.Record) slog.Record {
	var args []any
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "!BADKEY" {
			args = append(args, a.Key)
		}
		args = append(args, a.Value.Any())
		return true
	})
	return slog.NewRecord(r.Time, slog.LevelDebug, fmt.Sprintf(r.Message, args...), r.PC)
}

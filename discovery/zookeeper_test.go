//go:build !remove_all_sd || enable_zookeeper_sd

package discovery

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/prometheus/common/model"
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/zookeeper"
	"github.com/prometheus/prometheus/util/treecache"
	"github.com/stretchr/testify/require"
)

func zookeeperSD(t *testing.T, p Mapper) promdiscovery.Config {
	t.Helper()
	cfg, err := p.SDConfig()
	require.NoError(t, err)
	return cfg.(zookeeperSDConfig).Config
}

func TestZooKeeperKapacitorKeys(t *testing.T) {
	keys := ZooKeeper{Servers: []string{"zk1:2181", "zk2"}, Paths: []string{"/nerve/services/web"}}
	require.Equal(t, &zookeeper.NerveSDConfig{
		Servers: []string{"zk1:2181", "zk2"},
		Paths:   []string{"/nerve/services/web"},
		Timeout: model.Duration(10 * time.Second),
	}, zookeeperSD(t, &Nerve{ZooKeeper: keys}))
	keys.Timeout = config.Duration(3 * time.Second)
	require.Equal(t, &zookeeper.ServersetSDConfig{
		Servers: []string{"zk1:2181", "zk2"},
		Paths:   []string{"/nerve/services/web"},
		Timeout: model.Duration(3 * time.Second),
	}, zookeeperSD(t, &Serverset{ZooKeeper: keys}))
}

func TestZooKeeperValidation(t *testing.T) {
	servers, paths := []string{"zk:2181"}, []string{"/a"}
	for want, keys := range map[string]ZooKeeper{
		"servers: at least one ZooKeeper server is required": {Paths: paths},
		"servers[0]: empty":                     {Servers: []string{""}, Paths: paths},
		"paths: at least one path is required":  {Servers: servers},
		`paths[1]: "b" must start with "/"`:     {Servers: servers, Paths: []string{"/a", "b"}},
		`paths[0]: "/a/" must not end with "/"`: {Servers: servers, Paths: []string{"/a/"}},
		"timeout: -1s is negative":              {Servers: servers, Paths: paths, Timeout: config.Duration(-time.Second)},
	} {
		t.Run(want, func(t *testing.T) {
			_, err := (&Nerve{ZooKeeper: keys}).SDConfig()
			require.EqualError(t, err, want)
			_, err = (&Serverset{ZooKeeper: keys}).SDConfig()
			require.EqualError(t, err, want)
		})
	}
}

// The ZooKeeper client's reconnect attempts, logged through Prometheus' adapter as it does, become one
// error while the connection is lost and one info line when a session is back, after which the next loss
// is logged again.
func TestZooKeeperLog(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	h := newOutageLog(slog.NewTextHandler(&lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}), zookeeperSDConfig{}, func() {})
	client := treecache.NewZookeeperLogger(slog.New(h).With("discoverer", "nerve"))
	refused := errors.New("dial tcp 127.0.0.1:2181: connect: connection refused")
	for range 2 {
		client.Printf(zookeeperSessionUp, 1, 4000)
		client.Printf("recv loop terminated: %v", "EOF")
		for range 3 {
			client.Printf(zookeeperConnectFailed, "127.0.0.1:2181", refused)
		}
		client.Printf("connected to %s", "127.0.0.1:2181")
	}
	client.Printf(zookeeperSessionUp, 2, 4000)

	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if !strings.Contains(l, "level=DEBUG") {
			lines = append(lines, l)
		}
	}
	require.Len(t, lines, 4, buf.String())
	require.Contains(t, buf.String(), `level=DEBUG msg="recv loop terminated: EOF" discoverer=nerve`)
	require.Contains(t, buf.String(), `level=DEBUG msg="connected to 127.0.0.1:2181" discoverer=nerve`)
	require.Contains(t, buf.String(), `level=DEBUG msg="authenticated: id=1, timeout=4000" discoverer=nerve`)
	for i, want := range []string{
		`level=ERROR msg="cannot connect to ZooKeeper; keeping the last known targets" discoverer=nerve server=127.0.0.1:2181 err="dial tcp 127.0.0.1:2181: connect: connection refused"`,
		`level=INFO msg="connected to ZooKeeper again" discoverer=nerve`,
		`level=ERROR msg="cannot connect to ZooKeeper; keeping the last known targets"`,
		`level=INFO msg="connected to ZooKeeper again"`,
	} {
		require.Contains(t, lines[i], want)
	}
}

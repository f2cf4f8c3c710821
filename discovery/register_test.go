package discovery

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/stretchr/testify/require"
)

// A ZooKeeper that gives a session and then answers nothing leaves the registration waiting for the
// answer to its create: cancelling it still ends it at once (the plugin's Stop waits for it), not when
// the client gives up on the connection, two thirds of the session timeout later.
func TestRegisterStopsWhileZooKeeperHangs(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	zookeeperHandshake(t, addr, time.Minute)
	s := &Serverset{ZooKeeper: ZooKeeper{Servers: []string{addr}, Paths: []string{"/cluster/members"}, Timeout: config.Duration(time.Minute)}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Register(ctx, "127.0.0.1:9273", slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	time.Sleep(500 * time.Millisecond) // connected, the create sent and not answered
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Register still waits for ZooKeeper 10s after its context ended")
	}
}

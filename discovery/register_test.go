package discovery

import (
	"context"
	"encoding/binary"
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
		s.Register(ctx, "127.0.0.1:9273", "", slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	time.Sleep(500 * time.Millisecond) // connected, the create sent and not answered
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Register still waits for ZooKeeper 10s after its context ended")
	}
}

// zookeeperHandshake listens on addr and answers each connection's connect request as ZooKeeper does,
// with a session (id 1) of the timeout, then reads whatever comes, answering nothing, until the test ends.
func zookeeperHandshake(t *testing.T, addr string, timeout time.Duration) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				var size uint32
				if binary.Read(conn, binary.BigEndian, &size) != nil || size > 1024 {
					return
				}
				if _, err := io.CopyN(io.Discard, conn, int64(size)); err != nil {
					return
				}
				// connectResponse: protocol version, timeout (ms), session id, password (length-prefixed).
				passwd := make([]byte, 16)
				for _, field := range []any{uint32(4 + 4 + 8 + 4 + len(passwd)), int32(0), int32(timeout.Milliseconds()), int64(1), int32(len(passwd)), passwd} {
					_ = binary.Write(conn, binary.BigEndian, field)
				}
				_, _ = io.Copy(io.Discard, conn)
			}()
		}
	}()
}

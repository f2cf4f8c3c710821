package discovery

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"
)

// CheckMember implements cluster.Registrar: a ZooKeeper member's address is a host and a numeric port.
func (z *ZooKeeper) CheckMember(address string) error {
	_, _, err := splitMember(address)
	return err
}

// splitMember splits a member's address into the host and the numeric port a ZooKeeper member has.
func splitMember(address string) (host string, port int, err error) {
	host, p, err := net.SplitHostPort(address)
	if err != nil {
		return "", 0, err
	}
	if port, err = strconv.Atoi(p); err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number from 1 to 65535", p)
	}
	return host, port, nil
}

// Register implements cluster.Registrar: a serverset member, as Prometheus' serverset discovery parses it.
func (s *Serverset) Register(ctx context.Context, address, digest string, logger *slog.Logger) {
	s.register(ctx, address, digest, logger, func(host string, port int) any {
		type endpoint struct {
			Host string `json:"host"`
			Port int    `json:"port"`
		}
		return struct {
			ServiceEndpoint     endpoint            `json:"serviceEndpoint"`
			AdditionalEndpoints map[string]endpoint `json:"additionalEndpoints"`
			Status              string              `json:"status"`
		}{endpoint{host, port}, map[string]endpoint{}, "ALIVE"}
	})
}

// Register implements cluster.Registrar: a nerve member, as Prometheus' nerve discovery parses it, named by its host.
func (n *Nerve) Register(ctx context.Context, address, digest string, logger *slog.Logger) {
	n.register(ctx, address, digest, logger, func(host string, port int) any {
		return struct {
			Host string `json:"host"`
			Port int    `json:"port"`
			Name string `json:"name"`
		}{host, port, host}
	})
}

// register keeps an ephemeral member znode under the first path, its data member's JSON, for as long as
// ctx lasts. A session that expires takes the znode with it; the next session creates it again.
func (z *ZooKeeper) register(ctx context.Context, address, digest string, logger *slog.Logger, member func(host string, port int) any) {
	host, port, err := splitMember(address)
	if err != nil {
		logger.Error("cannot register", "address", address, "err", err)
		return
	}
	data, _ := json.Marshal(member(host, port)) // plain strings and numbers
	timeout, err := z.check()
	if err != nil {
		logger.Error("cannot register", "err", err)
		return
	}
	conn, events, err := zk.Connect(z.Servers, time.Duration(timeout), zk.WithLogger(zkLog{logger}))
	if err != nil {
		logger.Error("cannot register", "err", err)
		return
	}
	// Closing ends the session, and the znode goes at once. It also ends a create or exists that waits
	// for a server that answers nothing, which would otherwise hold ctx's end (the plugin's Stop) until
	// the client gives up on the connection. Close runs once; the deferred call waits for it.
	defer context.AfterFunc(ctx, conn.Close)()
	defer conn.Close()
	acl := zk.WorldACL(zk.PermAll)
	authed := digest == ""
	if !authed {
		user, password, _ := strings.Cut(digest, ":") // the plugin checked it
		// Others read the members (the discoverers need no credentials) but cannot change or delete them:
		// deleting a child takes a permission on its parent, which the path created here has too.
		acl = append(zk.DigestACL(zk.PermAll, user, password), zk.WorldACL(zk.PermRead)...)
	}
	dir := z.Paths[0]
	node := ""
	var watch <-chan zk.Event         // fires when node changes or goes
	retry := time.NewTimer(time.Hour) // runs only after a failure
	retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			if ev.State != zk.StateHasSession {
				continue
			}
		case <-retry.C:
		// A znode deleted while the session lives (by hand, by a cleanup script) would leave this instance
		// out of the peers for as long as it runs: it is created again.
		case <-watch:
		}
		// The client sends the credentials again on every later connection and session.
		var err error
		if !authed {
			err = conn.AddAuth("digest", []byte(digest))
			authed = err == nil
		}
		member, w := node, watch
		if err == nil {
			member, w, err = ensureMember(conn, node, dir, data, acl)
		}
		if ctx.Err() != nil { // closed under it: not a failure to report
			return
		}
		if err == nil && member != node {
			logger.Info("registered", "znode", member, "address", address)
		}
		node, watch = member, w
		if err != nil {
			logger.Warn("cannot register, retrying", "path", dir, "err", err)
			retry.Reset(time.Duration(timeout) / 2)
		}
	}
}

// ensureMember returns node if it exists still, or else a new member znode, with a watch on it. A failed
// check creates nothing: the session may still hold node, and this instance would be a member twice.
func ensureMember(conn *zk.Conn, node, dir string, data []byte, acl []zk.ACL) (string, <-chan zk.Event, error) {
	if node != "" {
		ok, _, watch, err := conn.ExistsW(node)
		if err != nil || ok {
			return node, watch, err
		}
	}
	node, err := createMember(conn, dir, data, acl)
	if err != nil {
		return "", nil, err
	}
	// Gone already between the create and the watch: the next check creates it again.
	_, _, watch, err := conn.ExistsW(node)
	return node, watch, err
}

// createMember creates dir's missing parents, persistent and empty, then the ephemeral member znode, all
// with acl.
func createMember(conn *zk.Conn, dir string, data []byte, acl []zk.ACL) (string, error) {
	for i := 2; i <= len(dir); i++ {
		if i < len(dir) && dir[i] != '/' {
			continue
		}
		if _, err := conn.Create(dir[:i], nil, 0, acl); err != nil && err != zk.ErrNodeExists {
			return "", fmt.Errorf("creating %s: %w", dir[:i], err)
		}
	}
	return conn.CreateProtectedEphemeralSequential(path.Join(dir, "member_"), data, acl)
}

// zkLog passes the ZooKeeper client's lines on at debug level: a lost connection shows in the discoverer's
// own log already.
type zkLog struct{ logger *slog.Logger }

func (l zkLog) Printf(format string, args ...any) {
	l.logger.Debug(strings.TrimSpace(fmt.Sprintf(format, args...)))
}

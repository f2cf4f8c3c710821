package discovery

import (
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/zookeeper"
)

// Serverset is a [[serverset]] section: targets registered in ZooKeeper as Twitter (Finagle, Aurora)
// serversets, one JSON member ({"serviceEndpoint", "additionalEndpoints", "status", "shard"}) a child
// znode of each path.
type Serverset struct {
	Common
	ZooKeeper
}

// Service implements Provider.
func (*Serverset) Service() string { return "serverset" }

// SDConfig implements Provider.
func (s *Serverset) SDConfig() (promdiscovery.Config, error) {
	timeout, err := s.check()
	if err != nil {
		return nil, err
	}
	return zookeeperSDConfig{&zookeeper.ServersetSDConfig{Servers: s.Servers, Paths: s.Paths, Timeout: timeout}}, nil
}

package discovery

import (
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/zookeeper"
)

// Nerve is a [[nerve]] section: targets registered in ZooKeeper by AirBnB's Nerve, one JSON member
// ({"host", "port", "name"}) a child znode of each path.
type Nerve struct {
	Common
	ZooKeeper
}

// Service implements Provider.
func (*Nerve) Service() string { return "nerve" }

// SDConfig implements Provider.
func (n *Nerve) SDConfig() (promdiscovery.Config, error) {
	timeout, err := n.check()
	if err != nil {
		return nil, err
	}
	return zookeeperSDConfig{&zookeeper.NerveSDConfig{Servers: n.Servers, Paths: n.Paths, Timeout: timeout}}, nil
}

//go:build !remove_all_sd || enable_zookeeper_sd

package discovery

import (
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/zookeeper"
)

// SDConfig implements Mapper.
func (n *Nerve) SDConfig() (promdiscovery.Config, error) {
	timeout, err := n.check()
	if err != nil {
		return nil, err
	}
	return zookeeperSDConfig{&zookeeper.NerveSDConfig{Servers: n.Servers, Paths: n.Paths, Timeout: timeout}}, nil
}

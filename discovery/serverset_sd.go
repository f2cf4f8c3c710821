//go:build !remove_all_sd || enable_zookeeper_sd

package discovery

import (
	promdiscovery "github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/zookeeper"
)

// SDConfig implements Mapper.
func (s *Serverset) SDConfig() (promdiscovery.Config, error) {
	timeout, err := s.check()
	if err != nil {
		return nil, err
	}
	return zookeeperSDConfig{&zookeeper.ServersetSDConfig{Servers: s.Servers, Paths: s.Paths, Timeout: timeout}}, nil
}

package tests

import (
	"fmt"
	"testing"

	"github.com/prometheus/common/model"
)

func init() {
	discovererTests["nerve"] = func(t *testing.T) {
		testZooKeeper(t, zookeeperFormat{
			service: "nerve",
			member: func(e *Exporter) []byte {
				return fmt.Appendf(nil, `{"host":"127.0.0.1","port":%s,"name":"exporter-%s"}`, e.Port(), e.Port())
			},
			labels: func(e *Exporter, path string) model.LabelSet {
				return model.LabelSet{
					"__address__":                model.LabelValue(e.Addr),
					"__meta_nerve_path":          model.LabelValue(path),
					"__meta_nerve_endpoint_host": "127.0.0.1",
					"__meta_nerve_endpoint_port": zookeeperPort(e),
					"__meta_nerve_endpoint_name": "exporter-" + zookeeperPort(e),
				}
			},
		})
	}
}

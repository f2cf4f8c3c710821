package tests

import (
	"fmt"
	"testing"

	"github.com/prometheus/common/model"
)

func init() {
	discovererTests["serverset"] = func(t *testing.T) {
		testZooKeeper(t, zookeeperFormat{
			service: "serverset",
			// An Aurora/Finagle member: its service endpoint, an admin endpoint beside it, status, shard.
			member: func(e *Exporter) []byte {
				return fmt.Appendf(nil, `{"serviceEndpoint":{"host":"127.0.0.1","port":%[1]s},`+
					`"additionalEndpoints":{"admin-http":{"host":"localhost","port":%[1]s}},"status":"ALIVE","shard":%[1]s}`, e.Port())
			},
			labels: func(e *Exporter, path string) model.LabelSet {
				return model.LabelSet{
					"__address__":                               model.LabelValue(e.Addr),
					"__meta_serverset_path":                     model.LabelValue(path),
					"__meta_serverset_endpoint_host":            "127.0.0.1",
					"__meta_serverset_endpoint_port":            zookeeperPort(e),
					"__meta_serverset_endpoint_host_admin_http": "localhost",
					"__meta_serverset_endpoint_port_admin_http": zookeeperPort(e),
					"__meta_serverset_status":                   "ALIVE",
					"__meta_serverset_shard":                    zookeeperPort(e),
				}
			},
		})
	}
}

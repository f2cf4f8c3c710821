//go:build remove_all_sd && !enable_kubernetes_sd

package discovering_prometheus

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A build without the kubernetes SD reads the prometheus_operator table but refuses it, saying how to
// build it in.
func TestOperatorLeftOut(t *testing.T) {
	err := mustLoad(t, `
[[inputs.discovering_prometheus]]
  [inputs.discovering_prometheus.prometheus_operator]
    api-servers = ["https://127.0.0.1:1"]
`).Init()
	require.EqualError(t, err, "prometheus_operator: this build leaves out the kubernetes discoverer it takes (built with -tags remove_all_sd; add enable_kubernetes_sd)")
}

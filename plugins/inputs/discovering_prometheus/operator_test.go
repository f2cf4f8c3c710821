//go:build !remove_all_sd || enable_kubernetes_sd

package discovering_prometheus

import (
	"errors"
	"fmt"
	"testing"

	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/plan"
)

func operatorConf(keys string) string {
	return `
[[inputs.discovering_prometheus]]
  [inputs.discovering_prometheus.prometheus_operator]
` + keys
}

// The prometheus_operator table is enough on its own (its monitors' jobs come once it watches), takes the
// kubernetes discoverer's keys to reach the API server, and names the key of every error.
func TestOperatorTable(t *testing.T) {
	p := mustLoad(t, operatorConf(`    api-servers = ["https://127.0.0.1:1"]
    namespaces = ["monitoring"]
    service_monitor_selector = "team=core"`))
	require.NoError(t, p.Init())
	require.NotNil(t, p.operator)
	require.Equal(t, []string{"monitoring"}, p.PrometheusOperator.Namespaces)
	require.Equal(t, "prometheus", p.PrometheusOperator.DB)
	require.Equal(t, "autogen", p.PrometheusOperator.RP)

	for _, tc := range []struct{ keys, want string }{
		{``, "prometheus_operator: api-servers: at least one server URL is required, unless in-cluster = true or kubeconfig-file is set"},
		{`    api-servers = ["ftp://x"]`, "prometheus_operator: api-servers[0]:"},
		{"    api-servers = [\"https://127.0.0.1:1\"]\n    role = \"pod\"", "prometheus_operator: role: not a key of this table"},
		{"    api-servers = [\"https://127.0.0.1:1\"]\n    service_monitor_selector = \"a in (\"", "prometheus_operator: service_monitor_selector:"},
		{"    api-servers = [\"https://127.0.0.1:1\"]\n    pod_monitor_selector = \"!!\"", "prometheus_operator: pod_monitor_selector:"},
		{"    api-servers = [\"https://127.0.0.1:1\"]\n    scrape_config_selector = \"a notin\"", "prometheus_operator: scrape_config_selector:"},
		{"    api-servers = [\"https://127.0.0.1:1\"]\n    db = 'x\\'", `prometheus_operator: db: "x\\": line protocol cannot carry`},
	} {
		t.Run(tc.want, func(t *testing.T) {
			err := mustLoad(t, operatorConf(tc.keys)).Init()
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

// node_name is a node's name, not the ${NODE_NAME} that Telegraf leaves when the variable is unset (which
// would select no pod at all); ScrapeConfigs, which it leaves out, are not selected beside it.
func TestOperatorNodeName(t *testing.T) {
	conf := "    api-servers = [\"https://127.0.0.1:1\"]\n    node_name = %q"
	p := mustLoad(t, operatorConf(fmt.Sprintf(conf, "node-1.example")))
	require.NoError(t, p.Init())
	require.Equal(t, "node-1.example", p.PrometheusOperator.NodeName)
	err := mustLoad(t, operatorConf(fmt.Sprintf(conf, "${DP_TEST_UNSET}"))).Init()
	require.ErrorContains(t, err, `prometheus_operator: node_name: "${DP_TEST_UNSET}" is not a node's name: a lowercase RFC 1123 subdomain`)
	err = mustLoad(t, operatorConf(fmt.Sprintf(conf, "node-1")+"\n    scrape_config_selector = \"a=b\"")).Init()
	require.ErrorContains(t, err, "prometheus_operator: scrape_config_selector: not with node_name")
}

// A refused monitor is logged on one line, as the status page shows it: its error may quote what the
// object says (here two bad annotations, which errors.Join puts on two lines, one with a newline of its
// own), and the object's author must not write lines of the log. A refusal already logged is not again.
func TestOperatorRefusedLogLine(t *testing.T) {
	log := &testutil.CaptureLogger{}
	p := &DiscoveringPrometheus{Log: log, operator: &operatorRun{}}
	refused := []plan.Refusal{{
		Origin: operatorOrigin("ServiceMonitor ns/bad"),
		Err:    errors.Join(errors.New(`db: "a\"`), errors.New("rp: x\nE! forged line")),
	}}
	p.operatorRefused(refused)
	p.operatorRefused(refused)
	msgs := log.Errors()
	require.Len(t, msgs, 1)
	require.NotContains(t, msgs[0], "\n")
	require.Contains(t, msgs[0], "prometheus_operator: ServiceMonitor ns/bad: refused, its jobs do not run:")
	require.Equal(t, refused, p.operatorRefusals())
}

// Until the operator's objects are watched and their jobs run, the plugin is not ready (/-/ready), though
// its own discoverers (none here) have all answered.
func TestOperatorNotReadyUntilWatched(t *testing.T) {
	p := mustLoad(t, operatorConf(`    api-servers = ["https://127.0.0.1:1"]`))
	require.NoError(t, p.Init())
	require.NoError(t, p.Start(&testutil.Accumulator{}))
	defer p.Stop()
	<-p.sd.Ready()
	require.False(t, statusSource{p}.Ready(), "ready while the API server has not answered")
	require.Contains(t, p.waitingFor(), "the prometheus_operator table's objects")
}

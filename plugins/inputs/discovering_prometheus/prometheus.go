package discovering_prometheus

import "github.com/discovering-prometheus/discovering-prometheus/plan"

// PrometheusJob is a [inputs.discovering_prometheus.prometheus_jobs.<job>] table: where the metrics of one
// job of prometheus_config go, when not to prometheus_db and prometheus_rp.
type PrometheusJob = plan.Route

//go:build remove_all_sd && !enable_kubernetes_sd

package discovering_prometheus

import "errors"

// newOperator refuses the prometheus_operator table: it takes the kubernetes discoverer, left out.
func (p *DiscoveringPrometheus) newOperator() (*operatorRun, error) {
	return nil, errors.New("this build leaves out the kubernetes discoverer it takes (built with -tags remove_all_sd; add enable_kubernetes_sd)")
}

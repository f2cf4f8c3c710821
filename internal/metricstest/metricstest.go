// Package metricstest reads a /metrics page in tests as Prometheus does, through its own text parser.
package metricstest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Parse returns the value of every counter and gauge of a page in the text exposition format, by series
// written as name{label="value",...} with the labels in name order; a page the parser refuses fails the test.
func Parse(t testing.TB, page string) map[string]float64 {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(page))
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	values := map[string]float64{}
	for name, family := range families {
		for _, m := range family.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			slices.Sort(labels)
			series := name
			if len(labels) > 0 {
				series += "{" + strings.Join(labels, ",") + "}"
			}
			switch family.GetType() {
			case dto.MetricType_COUNTER:
				values[series] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				values[series] = m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				values[series] = m.GetUntyped().GetValue()
			}
		}
	}
	return values
}

package main

import (
	"errors"
	"runtime"
	"strings"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/telegraf/selfstat"
)

// internalInput is inputs.internal. Telegraf keeps its own under an internal/ import path, which Go does not
// let another module import, so this build registers the same plugin: Telegraf's selfstat statistics (the
// agent's, every plugin's, and this plugin's own per scraper and discoverer), summed per plugin type unless
// per_instance, and the Go memory statistics.
type internalInput struct {
	CollectMemstats bool `toml:"collect_memstats"`
	CollectGostats  bool `toml:"collect_gostats"`
	PerInstance     bool `toml:"per_instance"`
}

const internalSample = `# Collect statistics about itself
[[inputs.internal]]
  ## If true, collect telegraf memory stats.
  # collect_memstats = true

  ## Go runtime/metrics statistics are not collected by this build.
  # collect_gostats = false

  ## Collect statistics per plugin instance and not per plugin type
  # per_instance = false
`

func (*internalInput) SampleConfig() string { return internalSample }

func (s *internalInput) Init() error {
	if s.CollectGostats {
		return errors.New("collect_gostats: not supported by this build's inputs.internal")
	}
	return nil
}

func (s *internalInput) Gather(acc telegraf.Accumulator) error {
	goVersion := strings.TrimPrefix(runtime.Version(), "go")
	summed := make(map[uint64]telegraf.Metric)
	var order []uint64
	for _, m := range selfstat.Metrics() {
		if m.Name() == "internal_agent" {
			m.AddTag("go_version", goVersion)
		}
		if s.PerInstance {
			acc.AddMetric(m)
			continue
		}
		key := m.HashIDWithFieldsFiltered([]string{"_id"}, nil)
		sum, found := summed[key]
		if !found {
			sum = m.Copy()
			sum.RemoveTag("_id")
			summed[key] = sum
			order = append(order, key)
			continue
		}
		for _, f := range m.FieldList() {
			total, _ := sum.GetField(f.Key)
			t, _ := total.(int64)
			v, _ := f.Value.(int64)
			sum.AddField(f.Key, t+v)
		}
	}
	for _, key := range order {
		acc.AddMetric(summed[key])
	}
	if s.CollectMemstats {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		acc.AddFields("internal_memstats", map[string]any{
			"alloc_bytes":         m.Alloc,
			"total_alloc_bytes":   m.TotalAlloc,
			"sys_bytes":           m.Sys,
			"pointer_lookups":     m.Lookups,
			"mallocs":             m.Mallocs,
			"frees":               m.Frees,
			"heap_alloc_bytes":    m.HeapAlloc,
			"heap_sys_bytes":      m.HeapSys,
			"heap_idle_bytes":     m.HeapIdle,
			"heap_in_use_bytes":   m.HeapInuse,
			"heap_released_bytes": m.HeapReleased,
			"heap_objects":        m.HeapObjects,
			"num_gc":              m.NumGC,
		}, map[string]string{})
	}
	return nil
}

func init() {
	inputs.Add("internal", func() telegraf.Input { return &internalInput{CollectMemstats: true} })
}

//go:build bench

package main

import (
	"bufio"
	"fmt"
	"os"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/metric"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/telegraf/plugins/parsers/influx"
)

// benchFloor is the benchmark harness' "telegraf-floor": on each gather it emits the metrics a real scrape
// of the same targets produces (same names, tags and count, read once from a line-protocol file), built
// afresh as an input would build them, with no network and no parsing. What the agent then spends on them
// is the floor any input pays inside Telegraf. Built only with -tags bench.
type benchFloor struct {
	File string `toml:"file"`

	names  []string
	tags   []map[string]string
	values []float64
}

func (*benchFloor) SampleConfig() string {
	return "[[inputs.bench_floor]]\n  file = \"metrics.lp\"\n"
}

func (b *benchFloor) Init() error {
	f, err := os.Open(b.File)
	if err != nil {
		return err
	}
	defer f.Close()
	parser := &influx.Parser{}
	if err := parser.Init(); err != nil {
		return err
	}
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		m, err := parser.ParseLine(scanner.Text())
		if err != nil {
			return fmt.Errorf("%s: %w", b.File, err)
		}
		v, _ := m.GetField("value")
		value, _ := v.(float64)
		b.names, b.tags, b.values = append(b.names, m.Name()), append(b.tags, m.Tags()), append(b.values, value)
	}
	return scanner.Err()
}

func (b *benchFloor) Gather(acc telegraf.Accumulator) error {
	now := time.Now()
	for i, name := range b.names {
		acc.AddMetric(metric.New(name, b.tags[i], map[string]any{"value": b.values[i]}, now))
	}
	return nil
}

func init() {
	inputs.Add("bench_floor", func() telegraf.Input { return &benchFloor{} })
}

package discovering_prometheus

import _ "embed"

// README.md's configuration block is sample.conf, copied in by Telegraf's own tool as in Telegraf's plugins:
// edit sample.conf, then run go generate. make lint-docs fails while they differ.
//
//go:generate go tool readme_config_includer
//go:embed sample.conf
var sampleConfig string

// SampleConfig returns the sample configuration.
func (*DiscoveringPrometheus) SampleConfig() string { return sampleConfig }

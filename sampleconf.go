// Package discoveringprometheus holds the plugin's sample configuration. The file lives beside the plugin, as
// Telegraf keeps its plugins' sample.conf, where go generate copies it into the plugin's README; it is
// embedded here, in a package that imports nothing, so that the plugin, the runner and every test share
// one copy, also those below the plugin in the layers.
package discoveringprometheus

import _ "embed"

// SampleConfig is the documented sample configuration of inputs.discovering_prometheus.
//
//go:embed plugins/inputs/discovering_prometheus/sample.conf
var SampleConfig string

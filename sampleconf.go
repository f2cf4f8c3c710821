// Package discoveringprometheus holds the plugin's sample configuration, which Telegraf's convention keeps
// beside the module root so that the README, the plugin and the runner share one copy.
package discoveringprometheus

import _ "embed"

// SampleConfig is the documented sample configuration of inputs.discovering_prometheus.
//
//go:embed sample.conf
var SampleConfig string

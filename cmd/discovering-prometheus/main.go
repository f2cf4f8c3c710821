// Command discovering-prometheus is the plugin as a Telegraf execd external plugin, and a standalone runner
// that prints line protocol.
//
//	[[inputs.execd]]
//	  command = ["/usr/local/bin/discovering-prometheus", "-config", "/etc/telegraf/discovering-prometheus.conf", "-poll_interval_disabled"]
//	  signal = "STDIN"
//
// With -once it gathers once, after discovery's first results, prints the metrics and exits. Without
// -config it runs an embedded default configuration that scrapes its own metrics endpoint.
package main

import (
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/influxdata/telegraf/plugins/common/shim"

	plugin "github.com/discovering-prometheus/discovering-prometheus/plugins/inputs/discovering_prometheus"
)

//go:embed default.conf
var defaultConfig []byte

func main() {
	configFile := flag.String("config", "", "the plugin's configuration file (an [[inputs.discovering_prometheus]] table); without it, an embedded default that scrapes this runner's own metrics")
	pollInterval := flag.Duration("poll_interval", time.Second, "how often to gather")
	pollIntervalDisabled := flag.Bool("poll_interval_disabled", false, "gather only when a line arrives on stdin (inputs.execd with signal = \"STDIN\")")
	once := flag.Bool("once", false, "gather once after discovery's first results, print line protocol on stdout and exit")
	flag.Parse()

	if err := run(*configFile, *once, *pollInterval, *pollIntervalDisabled); err != nil {
		fmt.Fprintln(os.Stderr, "discovering-prometheus:", err)
		os.Exit(1)
	}
}

func run(configFile string, once bool, pollInterval time.Duration, pollDisabled bool) error {
	var self *selfMetrics
	if configFile == "" {
		var err error
		if self, err = serveSelfMetrics(); err != nil {
			return err
		}
		defer self.Close()
		if configFile, err = writeTemp(defaultConfig); err != nil {
			return err
		}
		defer os.Remove(configFile)
	}
	loaded, err := shim.LoadConfig(&configFile)
	if err != nil {
		return fmt.Errorf("%s: %w", configFile, err)
	}
	input := loaded.Input
	if input == nil {
		return fmt.Errorf("%s: no [[inputs.discovering_prometheus]] table", configFile)
	}
	if p, ok := input.(*plugin.DiscoveringPrometheus); ok && self != nil {
		self.watch(p)
	}
	if once {
		return gatherOnce(input, os.Stdout)
	}
	if pollDisabled {
		pollInterval = 0
	}
	return serve(input, os.Stdin, os.Stdout, pollInterval)
}

func writeTemp(data []byte) (string, error) {
	f, err := os.CreateTemp("", "discovering-prometheus-*.conf")
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	return f.Name(), errors.Join(err, f.Close())
}

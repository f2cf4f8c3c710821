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
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/logger"

	"github.com/discovering-prometheus/discovering-prometheus/internal/conffile"
	"github.com/discovering-prometheus/discovering-prometheus/internal/profiling"
	"github.com/discovering-prometheus/discovering-prometheus/kapacitor"
	plugin "github.com/discovering-prometheus/discovering-prometheus/plugins/inputs/discovering_prometheus"
	"github.com/discovering-prometheus/discovering-prometheus/telegrafconf"
)

//go:embed default.conf
var defaultConfig []byte

func main() {
	configFile := flag.String("config", "", "the plugin's configuration file (an [[inputs.discovering_prometheus]] table); without it, an embedded default that scrapes this runner's own metrics")
	pollInterval := flag.Duration("poll_interval", time.Second, "how often to gather")
	pollIntervalDisabled := flag.Bool("poll_interval_disabled", false, "gather only when a line arrives on stdin (inputs.execd with signal = \"STDIN\")")
	once := flag.Bool("once", false, "gather once after discovery's first results, print line protocol on stdout and exit")
	targets := flag.Bool("targets", false, "after discovery's first results and one scrape, print every scraper's targets (discovered and final labels, dropped targets and the rule that dropped them, health, last scrape, error) and exit")
	asJSON := flag.Bool("json", false, "with -targets: print JSON shaped like the data of Prometheus' /api/v1/targets")
	migrateKapacitor := flag.String("migrate-kapacitor", "", "print the Telegraf configuration equivalent to the [[scraper]] and discoverer sections of this kapacitor.conf, and exit")
	migrateTelegraf := flag.String("migrate-telegraf", "", "print this telegraf.conf with every [[inputs.prometheus]] replaced by an equivalent [[inputs.discovering_prometheus]], and exit")
	pprofAddr := flag.String("pprof-addr", "", "serve Go's pprof profiles on this address (host:port), as Telegraf's --pprof-addr does")
	flag.Parse()
	// A write to a closed stdout fails with EPIPE, which serve reports and exits 1 on, rather than killing
	// the process with SIGPIPE and no word of why.
	signal.Ignore(syscall.SIGPIPE)

	// Every record, the plugin's and those of Telegraf's and Go's standard loggers, goes through one queue to
	// stderr, as lines Telegraf's inputs.execd reads at their level (log.go).
	logs := newStderrLog(os.Stderr, logQueueLen)
	logger.RedirectLogging(logs)

	if *pprofAddr != "" {
		if err := profiling.Serve(*pprofAddr); err != nil {
			fmt.Fprintln(os.Stderr, "discovering-prometheus: -pprof-addr:", err)
			os.Exit(1)
		}
	}

	for _, m := range []struct {
		flag, path string
		migrate    func(io.Writer, string) ([]string, error)
	}{
		{"-migrate-kapacitor", *migrateKapacitor, kapacitor.Migrate},
		{"-migrate-telegraf", *migrateTelegraf, telegrafconf.Migrate},
	} {
		if m.path != "" {
			migrate(m.flag, m.path, m.migrate)
		}
	}

	mode := runMode{targets: *targets, asJSON: *asJSON, once: *once, pollInterval: *pollInterval}
	if *pollIntervalDisabled {
		mode.pollInterval = 0
	}
	err := run(logs, *configFile, mode)
	if err != nil {
		logs.errorLines(err)
	}
	logs.close(logCloseWait)
	if err != nil {
		os.Exit(1)
	}
}

// logCloseWait is how long an ending runner waits for stderr to take the last log lines.
const logCloseWait = 2 * time.Second

// runMode is what the runner does with the loaded plugin: print its targets (-targets, -json), gather once
// (-once), or serve, gathering every pollInterval or, when it is 0, on every line of stdin.
type runMode struct {
	targets, asJSON bool
	once            bool
	pollInterval    time.Duration
}

func run(logs *stderrLog, configFile string, mode runMode) error {
	var self *selfMetrics
	data, source := defaultConfig, "the embedded default configuration"
	if configFile == "" {
		var err error
		if self, err = serveSelfMetrics(logs); err != nil {
			return err
		}
		defer self.Close()
	} else {
		var err error
		// Any kind of file, so that -config <(...) works, but within the limit: /dev/zero is refused, and so
		// is TOML nested deep enough to overflow the parser's stack.
		if data, err = conffile.ReadTOML(configFile, true); err != nil {
			return fmt.Errorf("-config: %w", err)
		}
		source = configFile
	}
	input, level, err := loadInput(data, source)
	if err != nil {
		return err
	}
	if level != telegraf.None {
		logs.setLevel(level)
	}
	if p, ok := input.(*plugin.DiscoveringPrometheus); ok {
		if self != nil {
			self.watch(p)
			// The default's fixed port may be another runner's: this one then serves its page elsewhere.
			p.StatusFallBackToFreePort()
		}
		if mode.once || mode.targets {
			p.StatusAddress = "" // a one-shot run serves no status page, nor takes its port from a running one
			p.OneShot()
		}
	}
	if mode.targets {
		return showTargets(input, os.Stdout, mode.asJSON, logs)
	}
	if mode.once {
		return gatherOnce(input, os.Stdout, logs)
	}
	if p, ok := input.(*plugin.DiscoveringPrometheus); ok && configFile != "" {
		p.SetConfigFile(configFile, func() (*plugin.DiscoveringPrometheus, error) { return readPlugin(configFile) })
		defer reloadOnHangup(p)()
	}
	return serve(input, os.Stdin, os.Stdout, mode.pollInterval, logs)
}

// readPlugin reads the -config file again, for a reload.
func readPlugin(configFile string) (*plugin.DiscoveringPrometheus, error) {
	data, err := conffile.ReadTOML(configFile, true)
	if err != nil {
		return nil, fmt.Errorf("-config: %w", err)
	}
	input, _, err := loadInput(data, configFile)
	if err != nil {
		return nil, err
	}
	p, ok := input.(*plugin.DiscoveringPrometheus)
	if !ok {
		return nil, fmt.Errorf("%s: not an [[inputs.discovering_prometheus]] table", configFile)
	}
	return p, nil
}

// reloadOnHangup reloads the plugin's configuration on every SIGHUP, as Prometheus does; the reload logs
// what changed, or its error, once. The function it returns ends the watch.
func reloadOnHangup(p *plugin.DiscoveringPrometheus) func() {
	hangups := make(chan os.Signal, 1)
	signal.Notify(hangups, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-hangups:
				_ = p.Reload() // it logs its error
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(hangups)
		close(done)
	}
}

// loadInput reads the plugin's table with Telegraf's own configuration loader, so that a file means here
// what it means in telegraf.conf: ${VAR} is expanded, secret-store references resolve, and a relabel
// replacement's $1 stays $1 (the execd shim's loader expands every $, with no escape). level is the table's
// log_level, telegraf.None when it sets none.
func loadInput(data []byte, source string) (input telegraf.Input, level telegraf.LogLevel, err error) {
	c := config.NewConfig()
	if err := c.LoadConfigData(data, source); err != nil {
		return nil, telegraf.None, fmt.Errorf("%s: %w", source, err)
	}
	if len(c.Inputs) != 1 || c.Inputs[0].Config.Name != "discovering_prometheus" {
		return nil, telegraf.None, fmt.Errorf("%s: want exactly one [[inputs.discovering_prometheus]] table, found inputs %v", source, c.InputNames())
	}
	return c.Inputs[0].Input, telegraf.LogLevelFromString(c.Inputs[0].Config.LogLevel), nil
}

// migrate prints the configuration a migration makes of the file at path, its warnings on stderr, and exits.
func migrate(flag, path string, migration func(io.Writer, string) ([]string, error)) {
	warnings, err := migration(os.Stdout, path)
	for _, w := range warnings {
		fmt.Fprintln(os.Stderr, "discovering-prometheus: warning:", w)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "discovering-prometheus: %s: %v\n", flag, err)
		os.Exit(1)
	}
	os.Exit(0)
}

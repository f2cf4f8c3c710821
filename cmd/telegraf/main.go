// Command telegraf is a Telegraf distribution with inputs.discovering_prometheus compiled in, built from
// Telegraf's own agent and config packages: the same configuration files and the main flags of telegraf
// (--config, --config-directory, --test, --once, --test-wait, --usage, --input-filter, --output-filter,
// --debug, --quiet, --pprof-addr). Beside the plugin it carries the inputs and outputs a user of it needs:
// inputs.execd, inputs.prometheus, inputs.internal, outputs.influxdb, outputs.influxdb_v2, outputs.file,
// outputs.discard.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/influxdata/telegraf/agent"
	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/logger"
	"github.com/influxdata/telegraf/plugins/inputs"
	"github.com/influxdata/telegraf/plugins/outputs"

	_ "github.com/influxdata/telegraf/plugins/inputs/execd"
	_ "github.com/influxdata/telegraf/plugins/inputs/prometheus"
	_ "github.com/influxdata/telegraf/plugins/outputs/discard"
	_ "github.com/influxdata/telegraf/plugins/outputs/file"
	_ "github.com/influxdata/telegraf/plugins/outputs/influxdb"
	_ "github.com/influxdata/telegraf/plugins/outputs/influxdb_v2"
	_ "github.com/influxdata/telegraf/plugins/parsers/influx"
	_ "github.com/influxdata/telegraf/plugins/serializers/influx"

	"github.com/discovering-prometheus/discovering-prometheus/internal/profiling"
	plugin "github.com/discovering-prometheus/discovering-prometheus/plugins/inputs/discovering_prometheus"
)

// list is a repeatable string flag.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var configs, dirs list
	flag.Var(&configs, "config", "configuration file to load (repeatable)")
	flag.Var(&dirs, "config-directory", "directory of additional *.conf files (repeatable)")
	test := flag.Bool("test", false, "gather once, print the metrics on stdout, write nothing to outputs")
	once := flag.Bool("once", false, "gather once, write to the outputs and exit")
	testWait := flag.Int("test-wait", 0, "seconds to wait for service inputs in --test or --once mode")
	usage := flag.String("usage", "", "print the sample configuration of a plugin, e.g. --usage discovering_prometheus")
	inputFilter := flag.String("input-filter", "", "inputs to enable, separated by ':'")
	outputFilter := flag.String("output-filter", "", "outputs to enable, separated by ':'")
	debug := flag.Bool("debug", false, "log debug messages")
	quiet := flag.Bool("quiet", false, "log only errors")
	pprofAddr := flag.String("pprof-addr", "", "serve Go's pprof profiles on this address (host:port)")
	flag.Parse()

	if *pprofAddr != "" {
		if err := profiling.Serve(*pprofAddr); err != nil {
			log.Fatalf("E! --pprof-addr: %s", err)
		}
	}

	if *usage != "" {
		if err := printUsage(*usage); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	c := config.NewConfig()
	c.InputFilters = split(*inputFilter)
	c.OutputFilters = split(*outputFilter)
	c.TestMode = *test && !*once
	err := run(ctx, c, configs, dirs, runMode{test: *test, once: *once, wait: time.Duration(*testWait) * time.Second, debug: *debug, quiet: *quiet})
	cancel()
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Printf("E! %s", err)
		os.Exit(1)
	}
}

type runMode struct {
	test, once   bool
	wait         time.Duration
	debug, quiet bool
}

func run(ctx context.Context, c *config.Config, configs, dirs []string, mode runMode) error {
	files := append([]string(nil), configs...)
	for _, dir := range dirs {
		found, err := config.WalkDirectory(dir)
		if err != nil {
			return fmt.Errorf("reading config directory %s: %w", dir, err)
		}
		files = append(files, found...)
	}
	if len(files) == 0 {
		defaults, err := config.GetDefaultConfigPath()
		if err != nil {
			return err
		}
		files = defaults
	}
	if err := c.LoadAll(files...); err != nil {
		return err
	}
	if len(c.Inputs) == 0 {
		return errors.New("no inputs found in the configuration")
	}
	if !mode.test && len(c.Outputs) == 0 {
		return errors.New("no outputs found in the configuration")
	}
	if err := logger.SetupLogging(&logger.Config{
		Debug:     c.Agent.Debug || mode.debug,
		Quiet:     c.Agent.Quiet || mode.quiet,
		LogTarget: c.Agent.LogTarget,
		LogFormat: c.Agent.LogFormat,
		Logfile:   c.Agent.Logfile,
	}); err != nil {
		return err
	}
	log.Printf("I! Loaded inputs: %s", strings.Join(c.InputNames(), " "))
	log.Printf("I! Loaded outputs: %s", strings.Join(c.OutputNames(), " "))

	// A debugging run reads the cluster's peers but never joins them, and scrapes every target at its one
	// gather; otherwise gathers repeat, and the plugin scrapes each target on its own schedule, adding each
	// scrape's metrics as it ends. Only this build can say which, as Telegraf tells its plugins nothing of
	// --once and --test.
	for _, input := range c.Inputs {
		if p, ok := input.Input.(*plugin.DiscoveringPrometheus); ok {
			if mode.once || mode.test {
				p.OneShot()
			} else {
				p.GathersRepeat()
			}
		}
	}
	a := agent.NewAgent(c)
	switch {
	case mode.once:
		return a.Once(ctx, mode.wait)
	case mode.test:
		return a.Test(ctx, mode.wait)
	default:
		return a.Run(ctx)
	}
}

func printUsage(name string) error {
	if creator, ok := inputs.Inputs[name]; ok {
		fmt.Print(creator().SampleConfig())
		return nil
	}
	if creator, ok := outputs.Outputs[name]; ok {
		fmt.Print(creator().SampleConfig())
		return nil
	}
	return fmt.Errorf("no input or output named %q", name)
}

func split(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ":")
}

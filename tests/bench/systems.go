package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// system is one scraper under measurement: how to start it against a fleet.
type system struct {
	name  string
	start func(r *run) (*exec.Cmd, error)
	// synthetic systems scrape nothing: their samples are what they emit, a captured gather per interval.
	synthetic bool
	// storedSeriesBytes, for a system that keeps every series it scrapes in memory (Prometheus' head block),
	// is roughly what a series costs it: the harness says so and leaves the system out of a run that would
	// not fit in this machine's memory, rather than bring the machine down.
	storedSeriesBytes int64
}

// run is what a system's start needs: the targets, the interval, a work directory and the built binaries.
type run struct {
	fleet    fleet
	interval time.Duration
	dir      string
	bins     binaries
	floor    string     // line protocol of one gather, for telegraf-floor
	floorN   int64      // metrics in it
	sink     string     // vmagent's remote-write discard sink
	held     []*os.File // files to close when the system stops
	pprof    string     // with -profile: the loopback address the system serves /debug/pprof/ on
}

type binaries struct{ runner, runnerK8s, telegraf, telegrafBench string }

var systems = []system{
	{name: "ours-telegraf", start: func(r *run) (*exec.Cmd, error) {
		return r.telegraf(r.bins.telegraf, ourInput(r))
	}},
	{name: "ours-runner", start: func(r *run) (*exec.Cmd, error) {
		return r.runner(r.bins.runner, ourInput(r))
	}},
	// The runner with its scrapes aligned (scrape_align_interval): every target at once, as gathers scraped
	// them before each target had its own phase; the burst beside ours-runner's spread.
	{name: "ours-runner-aligned", start: func(r *run) (*exec.Cmd, error) {
		return r.runner(r.bins.runner, strings.Replace(ourInput(r), "[[inputs.discovering_prometheus]]\n",
			fmt.Sprintf("[[inputs.discovering_prometheus]]\n  scrape_align_interval = %q\n", r.interval), 1))
	}},
	// The runner as a DaemonSet would carry it: built with the kubernetes discoverer alone.
	{name: "ours-runner-k8s", start: func(r *run) (*exec.Cmd, error) {
		return r.runner(r.bins.runnerK8s, ourInput(r))
	}},
	{name: "telegraf", start: func(r *run) (*exec.Cmd, error) {
		return r.telegraf(r.bins.telegraf, fmt.Sprintf(`
[[inputs.prometheus]]
  urls = [%s]
  metric_version = 2
  timeout = "%s"
`, r.fleet.quoted("http://"), r.interval))
	}},
	{name: "telegraf-floor", start: func(r *run) (*exec.Cmd, error) {
		return r.telegraf(r.bins.telegrafBench, fmt.Sprintf("[[inputs.bench_floor]]\n  file = %q\n", r.floor))
	}, synthetic: true},
	{name: "vmagent", start: func(r *run) (*exec.Cmd, error) {
		conf, err := r.write("vmagent.yml", r.promConfig())
		if err != nil {
			return nil, err
		}
		listen := "127.0.0.1:0"
		if r.pprof != "" {
			listen = r.pprof // vmagent serves /debug/pprof/ on its HTTP address
		}
		return exec.Command("vmagent", "-promscrape.config="+conf, "-remoteWrite.url="+r.sink,
			"-remoteWrite.tmpDataPath="+filepath.Join(r.dir, "vmagent-data"), "-httpListenAddr="+listen,
			"-loggerLevel=ERROR"), nil
	}},
	{name: "prometheus", start: func(r *run) (*exec.Cmd, error) {
		conf, err := r.write("prometheus.yml", r.promConfig())
		if err != nil {
			return nil, err
		}
		listen := r.pprof // Prometheus serves /debug/pprof/ on its web address
		if listen == "" {
			port, err := freePort()
			if err != nil {
				return nil, err
			}
			listen = fmt.Sprintf("127.0.0.1:%d", port)
		}
		return exec.Command("prometheus", "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(r.dir, "tsdb"),
			"--web.listen-address="+listen, "--log.level=error"), nil
	}, storedSeriesBytes: 4 << 10},
}

func ourInput(r *run) string {
	return fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "bench"
    db = "bench"
    rp = "autogen"
    discoverer-service = "static-discovery"
    discoverer-id = "fleet"
    scrape-interval = "%s"
  [[inputs.discovering_prometheus.static-discovery]]
    id = "fleet"
    targets = [%s]
`, r.interval, r.fleet.quoted(""))
}

// runner runs a build of the runner, gathering every interval, on a plugin configuration or, given none,
// on its embedded default, which scrapes the runner's own metrics endpoint.
func (r *run) runner(bin, input string) (*exec.Cmd, error) {
	cmd := exec.Command(bin, "-poll_interval", r.interval.String())
	if input != "" {
		conf, err := r.write("plugin.conf", input)
		if err != nil {
			return nil, err
		}
		cmd.Args = append(cmd.Args, "-config", conf)
	}
	if r.pprof != "" {
		cmd.Args = append(cmd.Args, "-pprof-addr", r.pprof)
	}
	cmd.Stdout = io.Discard
	// The execd shim stops when its stdin closes, as under inputs.execd; keep it open for the run.
	stdin, hold, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdin = stdin
	r.held = append(r.held, stdin, hold)
	return cmd, nil
}

func (r *run) promConfig() string {
	return fmt.Sprintf(`global:
  scrape_interval: %s
  scrape_timeout: %s
scrape_configs:
  - job_name: bench
    static_configs:
      - targets: [%s]
`, r.interval, r.interval, r.fleet.quoted(""))
}

// telegraf runs a Telegraf build with one input into outputs.discard. The buffer holds two gathers, so
// that nothing is dropped and the agent does the same work for every input, and no more: Telegraf allocates
// the whole buffer up front, and a buffer far larger than the run (50 million slots, 800 MB of metric
// pointers) made the agent's own memory and GC the larger part of what was measured, unevenly from one
// system to the next.
func (r *run) telegraf(bin, input string) (*exec.Cmd, error) {
	buffer := max(2*r.fleet.perGather(), 10000)
	conf, err := r.write("telegraf.conf", fmt.Sprintf(`
[agent]
  interval = "%s"
  flush_interval = "%s"
  round_interval = false
  omit_hostname = true
  metric_batch_size = 10000
  metric_buffer_limit = %d
  skip_processors_after_aggregators = true
  quiet = true
%s
[[outputs.discard]]
`, r.interval, r.interval, buffer, input))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--config", conf)
	if r.pprof != "" {
		cmd.Args = append(cmd.Args, "--pprof-addr", r.pprof)
	}
	return cmd, nil
}

func (r *run) write(name, content string) (string, error) {
	path := filepath.Join(r.dir, name)
	return path, os.WriteFile(path, []byte(content), 0o644)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// discardSink is vmagent's remote-write endpoint: it reads and forgets.
func discardSink() (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String() + "/api/v1/write", func() { _ = srv.Close() }, nil
}

// build compiles the binaries the systems need, once; Telegraf's only withTelegraf.
func build(dir string, withTelegraf bool) (binaries, error) {
	b := binaries{
		runner:        filepath.Join(dir, "discovering-prometheus"),
		runnerK8s:     filepath.Join(dir, "discovering-prometheus-k8s"),
		telegraf:      filepath.Join(dir, "telegraf"),
		telegrafBench: filepath.Join(dir, "telegraf-bench"),
	}
	builds := [][]string{
		{"build", "-o", b.runner, "./cmd/discovering-prometheus"},
		{"build", "-tags", "remove_all_sd,enable_kubernetes_sd", "-o", b.runnerK8s, "./cmd/discovering-prometheus"},
	}
	if withTelegraf {
		builds = append(builds,
			[]string{"build", "-o", b.telegraf, "./cmd/telegraf"},
			[]string{"build", "-tags", "bench", "-o", b.telegrafBench, "./cmd/telegraf"})
	}
	for _, c := range builds {
		cmd := exec.Command("go", c...)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return b, fmt.Errorf("go %s: %w", strings.Join(c, " "), err)
		}
	}
	return b, nil
}

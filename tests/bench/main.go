// Command bench measures CPU per sample and peak memory of this project's scraper beside Telegraf's
// inputs.prometheus, Telegraf's own per-metric floor, vmagent and Prometheus, against the same deterministic
// loopback targets for the same time, one system after the other.
//
//	go run ./tests/bench -short                       # under two minutes
//	go run ./tests/bench -targets 50 -duration 60s    # one size
//	go run ./tests/bench -counts 100,1000,10000       # the chart's sweep
//	go run ./tests/bench -targets 200 -profile prof   # also a CPU and a heap profile of each system
//	go run ./tests/bench -idle -duration 10s          # the runner builds' RSS, idle
//	go run ./tests/bench -targets 100 -rounds 3       # each system three times, interleaved
//
// It prints one JSON object per system, target count and round, then a markdown table (with -rounds, also
// each system's median and range), and writes a PNG chart of the medians.
package main

import (
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// result is one system's figures for one target count; the JSON keys are the harness' contract.
type result struct {
	System       string  `json:"system"`
	Targets      int     `json:"targets"`
	Samples      int64   `json:"samples"`
	CPUSeconds   float64 `json:"cpu_seconds"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	// FileRSSBytes is the part of the resident set at the end that maps files (RssFile): the pages of the
	// binary, and of the C library, that the process has touched. They are clean, shared and reclaimable;
	// the rest (RssAnon) is the heap, the stacks and the runtime's own.
	FileRSSBytes   int64   `json:"rss_file_bytes"`
	CPUNsPerSample float64 `json:"cpu_ns_per_sample"`
	// Round is which of -rounds this is, from 1.
	Round int `json:"round"`
	spread
}

func main() {
	targets := flag.Int("targets", 50, "targets per run (when -counts is not given)")
	counts := flag.String("counts", "", "comma-separated target counts to sweep, e.g. 100,1000,10000")
	series := flag.Int("series", 500, "series per node-sized target")
	interval := flag.Duration("interval", time.Second, "scrape interval of every system")
	duration := flag.Duration("duration", 30*time.Second, "measured time per system, after a warm-up")
	only := flag.String("systems", "", "comma-separated systems to run (default: all)")
	short := flag.Bool("short", false, "a quick run: 20 and 100 targets, 6s each")
	chart := flag.String("chart", "bench.png", "where to write the PNG chart")
	idle := flag.Bool("idle", false, "measure instead the peak RSS of each build of the runner (full, kubernetes-only) idle, scraping only itself, for -duration")
	rounds := flag.Int("rounds", 1, "measure each system this many times, the systems taking turns, and report each one's median and range: "+
		"at 100 targets a system spends about a CPU second a minute, and runs a few minutes apart differ by 20 % or more")
	profile := flag.String("profile", "", "a directory: each system serves pprof, and its CPU profile of the measured time and its heap at the end are written there as SYSTEM-TARGETS.{cpu,heap}.pprof (profiling costs CPU of its own)")
	flag.Parse()

	sizes := []int{*targets}
	if *counts != "" {
		sizes = nil
		for _, c := range strings.Split(*counts, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(c))
			if err != nil || n <= 0 {
				fail(fmt.Errorf("-counts: %q is not a positive number", c))
			}
			sizes = append(sizes, n)
		}
	}
	if *short {
		sizes, *duration = []int{20, 100}, 6*time.Second
	}
	if err := setup(); err != nil {
		fail(err)
	}
	dir, err := os.MkdirTemp("", "dp-bench-")
	if err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	// Telegraf's builds are the slow links: only for a run that has a system of Telegraf.
	withTelegraf := !*idle && (*only == "" || strings.Contains(*only, "telegraf"))
	bins, err := build(dir, withTelegraf)
	if err != nil {
		fail(err)
	}
	if *idle {
		if err := measureIdle(dir, bins, *duration); err != nil {
			fail(err)
		}
		return
	}
	var results []result
	for _, n := range sizes {
		rs, err := measureAll(n, *series, *interval, *duration, max(*rounds, 1), dir, bins, *only, *profile)
		if err != nil {
			fail(err)
		}
		results = append(results, rs...)
	}
	printTable(results)
	groups := systemRuns(results)
	if *rounds > 1 {
		printMedians(groups)
	}
	var medians []result
	for _, runs := range groups {
		medians = append(medians, median(runs))
	}
	if err := drawChart(*chart, medians); err != nil {
		fail(err)
	}
	fmt.Fprintf(os.Stderr, "chart: %s\n", *chart)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

// setup installs the peers that are not on the machine: a system is never skipped silently.
func setup() error {
	var missing []string
	for bin, pkg := range map[string]string{"vmagent": "victoria-metrics", "prometheus": "prometheus"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, pkg)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	fmt.Fprintln(os.Stderr, "installing", missing)
	slices.Sort(missing)
	install := exec.Command("sh", "-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "+strings.Join(missing, " "))
	install.Stdout, install.Stderr = os.Stderr, os.Stderr
	return install.Run()
}

func measureAll(n, series int, interval, duration time.Duration, rounds int, dir string, bins binaries, only, profile string) ([]result, error) {
	fl, err := startFleet(n, series)
	if err != nil {
		return nil, err
	}
	defer fl.stop()
	sink, stopSink, err := discardSink()
	if err != nil {
		return nil, err
	}
	defer stopSink()
	r := &run{fleet: fl, interval: interval, dir: dir, bins: bins, sink: sink}
	if only == "" || slices.Contains(strings.Split(only, ","), "telegraf-floor") {
		if r.floor, r.floorN, err = captureGather(r); err != nil {
			return nil, err
		}
	}
	var results []result
	for round := 1; round <= rounds; round++ {
		for _, s := range systems {
			if only != "" && !slices.Contains(strings.Split(only, ","), s.name) {
				continue
			}
			if need := s.storedSeriesBytes * int64(fl.perGather()); need > 0 {
				if avail, err := memAvailable(); err == nil && need > avail/2 {
					fmt.Fprintf(os.Stderr, "bench: %s left out at %d targets: it would hold %d series in memory, about %d MiB, more than half of the %d MiB available\n",
						s.name, n, fl.perGather(), need>>20, avail>>20)
					continue
				}
			}
			r.pprof = ""
			if profile != "" {
				port, err := freePort()
				if err != nil {
					return nil, err
				}
				r.pprof = fmt.Sprintf("127.0.0.1:%d", port)
			}
			res, err := measure(r, s, duration, profile)
			res.Round = round
			if err != nil {
				return nil, fmt.Errorf("%s with %d targets: %w", s.name, n, err)
			}
			b, _ := json.Marshal(res)
			fmt.Println(string(b))
			results = append(results, res)
		}
	}
	return results, nil
}

// captureGather records one gather of our runner as line protocol, the scraped samples only: what
// telegraf-floor emits per gather.
func captureGather(r *run) (string, int64, error) {
	conf, err := r.write("capture.conf", ourInput(r))
	if err != nil {
		return "", 0, err
	}
	cmd := exec.Command(r.bins.runner, "-once", "-config", conf)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", 0, err
	}
	var kept []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.HasPrefix(line, "up,") && !strings.HasPrefix(line, "scrape_") {
			kept = append(kept, line)
		}
	}
	path := filepath.Join(r.dir, "gather.lp")
	return path, int64(len(kept)), os.WriteFile(path, []byte(strings.Join(kept, "\n")+"\n"), 0o644)
}

// measure runs one system: a warm-up of two intervals (at least 3s), then the measured time; CPU and
// samples are what happened in between.
func measure(r *run, s system, duration time.Duration, profile string) (result, error) {
	cmd, err := s.start(r)
	if err != nil {
		return result{}, err
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	defer r.stop(cmd)
	time.Sleep(max(2*r.interval, 3*time.Second))
	cpu0, err := cpuSeconds(cmd.Process.Pid)
	if err != nil {
		return result{}, err
	}
	samples0 := r.fleet.samples()
	from := time.Now()
	cpu := sampleCPU(cmd.Process.Pid)
	profiled := make(chan error, 1)
	if profile != "" {
		go func() {
			profiled <- r.fetchProfile(profile, s.name, "cpu", fmt.Sprintf("profile?seconds=%d", int(duration.Seconds())))
		}()
	}
	time.Sleep(duration)
	if profile != "" {
		if err := errors.Join(<-profiled, r.fetchProfile(profile, s.name, "heap", "heap")); err != nil {
			return result{}, err
		}
	}
	cpu1, err := cpuSeconds(cmd.Process.Pid)
	if err != nil {
		return result{}, err
	}
	spreadOf := r.fleet.spread(from, time.Now(), r.interval, cpu())
	samples := r.fleet.samples() - samples0
	if s.synthetic {
		samples = r.floorN * int64(duration/r.interval)
	}
	rss, err := peakRSS(cmd.Process.Pid)
	if err != nil {
		return result{}, err
	}
	fileRSS, err := fileRSS(cmd.Process.Pid)
	if err != nil {
		return result{}, err
	}
	if samples == 0 {
		return result{}, errors.New("scraped nothing")
	}
	res := result{System: s.name, Targets: len(r.fleet), Samples: samples, CPUSeconds: cpu1 - cpu0, PeakRSSBytes: rss, FileRSSBytes: fileRSS, spread: spreadOf}
	res.CPUNsPerSample = res.CPUSeconds * 1e9 / float64(samples)
	return res, nil
}

// stop stops a system and closes the files it held.
func (r *run) stop(cmd *exec.Cmd) {
	for _, f := range r.held {
		_ = f.Close()
	}
	r.held = nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// measureIdle runs each build of the runner idle, on its embedded default (one target: its own metrics
// endpoint), and vmagent with no target, for the given time, and prints the peak RSS of each and the part
// of it that maps files: what a build costs before any target, and how much of that is its binary's pages.
func measureIdle(dir string, bins binaries, duration time.Duration) error {
	sink, stopSink, err := discardSink()
	if err != nil {
		return err
	}
	defer stopSink()
	r := &run{interval: time.Second, dir: dir, bins: bins, sink: sink}
	vmagent := systems[slices.IndexFunc(systems, func(s system) bool { return s.name == "vmagent" })]
	fmt.Println("| system | idle peak RSS MiB | of it, files MiB |")
	fmt.Println("| --- | ---: | ---: |")
	for _, s := range []struct {
		name  string
		start func() (*exec.Cmd, error)
	}{
		{"ours-runner", func() (*exec.Cmd, error) { return r.runner(bins.runner, "") }},
		{"ours-runner-k8s", func() (*exec.Cmd, error) { return r.runner(bins.runnerK8s, "") }},
		{"vmagent", func() (*exec.Cmd, error) { return vmagent.start(r) }},
	} {
		cmd, err := s.start()
		if err != nil {
			return err
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		time.Sleep(duration)
		rss, err := peakRSS(cmd.Process.Pid)
		files, ferr := fileRSS(cmd.Process.Pid)
		r.stop(cmd)
		if err := errors.Join(err, ferr); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Printf("| %s | %.1f | %.1f |\n", s.name, float64(rss)/(1<<20), float64(files)/(1<<20))
	}
	return nil
}

// fetchProfile saves the system's /debug/pprof/<path> as DIR/SYSTEM-TARGETS.KIND.pprof.
func (r *run) fetchProfile(dir, system, kind, path string) error {
	resp, err := http.Get("http://" + r.pprof + "/debug/pprof/" + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s profile: HTTP %s", kind, resp.Status)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%d.%s.pprof", system, len(r.fleet), kind)))
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	return errors.Join(err, f.Close())
}

// cpuSeconds is the process' user and system time from /proc/PID/stat.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; the fields after it are fixed.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	const ticks = 100 // USER_HZ on Linux
	return (utime + stime) / ticks, nil
}

// memAvailable is MemAvailable from /proc/meminfo, in bytes.
func memAvailable() (int64, error) { return procBytes("/proc/meminfo", "MemAvailable") }

// peakRSS is the process' high-water resident set from /proc/PID/status.
func peakRSS(pid int) (int64, error) { return procBytes(fmt.Sprintf("/proc/%d/status", pid), "VmHWM") }

// fileRSS is the process' resident set that maps files, from /proc/PID/status.
func fileRSS(pid int) (int64, error) {
	return procBytes(fmt.Sprintf("/proc/%d/status", pid), "RssFile")
}

// procBytes reads a "key:   N kB" line of a /proc file, in bytes.
func procBytes(path, key string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in %s", key, path)
}

func printTable(results []result) {
	fmt.Println()
	fmt.Println("| system | targets | round | samples | CPU s | CPU ns/sample | peak RSS MiB | of it, files MiB | RSS KiB/target | busiest 1 s / mean | gaps ±50 ms | worst gap ms | CPU 100 ms p99 / median |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range results {
		fmt.Printf("| %s | %d | %d | %d | %.2f | %.0f | %.1f | %.1f | %.1f | %.2f | %.1f %% | %.0f | %.1f |\n", r.System, r.Targets, r.Round, r.Samples, r.CPUSeconds,
			r.CPUNsPerSample, float64(r.PeakRSSBytes)/(1<<20), float64(r.FileRSSBytes)/(1<<20), float64(r.PeakRSSBytes)/1024/float64(r.Targets),
			r.BusiestSecond, 100*r.GapsWithin50ms, r.WorstGapMs, r.CPUP99OverMedian)
	}
}

// systemRuns groups the runs by system and target count, in the order each was first measured, each
// group sorted by CPU per sample.
func systemRuns(results []result) [][]result {
	var groups [][]result
	for _, r := range results {
		i := slices.IndexFunc(groups, func(g []result) bool { return g[0].System == r.System && g[0].Targets == r.Targets })
		if i < 0 {
			groups, i = append(groups, nil), len(groups)
		}
		groups[i] = append(groups[i], r)
	}
	for _, g := range groups {
		slices.SortFunc(g, func(a, b result) int { return cmp.Compare(a.CPUNsPerSample, b.CPUNsPerSample) })
	}
	return groups
}

// median is a group's run of the median CPU per sample (of an even number of runs, the lower of the
// middle two).
func median(runs []result) result { return runs[(len(runs)-1)/2] }

// printMedians prints each system's median CPU per sample and the range of its runs.
func printMedians(groups [][]result) {
	fmt.Println()
	fmt.Println("| system | targets | runs | CPU ns/sample, median | lowest | highest | peak RSS MiB, median run |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, runs := range groups {
		m := median(runs)
		fmt.Printf("| %s | %d | %d | %.0f | %.0f | %.0f | %.1f |\n", m.System, m.Targets, len(runs), m.CPUNsPerSample, runs[0].CPUNsPerSample,
			runs[len(runs)-1].CPUNsPerSample, float64(m.PeakRSSBytes)/(1<<20))
	}
}

package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// spread is how a system's scrapes fell over the measured time, counted at the targets, and how its CPU
// did, sampled every 100 ms.
type spread struct {
	// BusiestSecond is the requests of the busiest second over the mean per second: 1 when the scrapes
	// are spread evenly, interval/1s when every target is scraped in the same second.
	BusiestSecond float64 `json:"busiest_second_over_mean"`
	// GapsWithin50ms is the share of a target's consecutive requests that are the interval ± 50 ms apart,
	// and WorstGapMs the largest distance from the interval of any, in milliseconds.
	GapsWithin50ms float64 `json:"gaps_within_50ms"`
	WorstGapMs     float64 `json:"worst_gap_ms"`
	// CPUMedianMs and CPUP99Ms are the median and 99th percentile of the CPU time used in each 100 ms
	// (from each thread's schedstat, in nanoseconds), and CPUP99OverMedian their ratio (0 when the median is 0).
	CPUMedianMs      float64 `json:"cpu_100ms_median_ms"`
	CPUP99Ms         float64 `json:"cpu_100ms_p99_ms"`
	CPUP99OverMedian float64 `json:"cpu_100ms_p99_over_median"`
	// CPUSamples are those 100 ms samples, in milliseconds, for the chart of CPU over time.
	CPUSamples []float64 `json:"cpu_100ms_ms,omitempty"`
}

// spread is the fleet's spread between from and to, with the CPU samples of the system.
func (f fleet) spread(from, to time.Time, interval time.Duration, cpu []float64) spread {
	var s spread
	perSecond := make([]int, int(to.Sub(from)/time.Second)+1)
	total, gaps, within := 0, 0, 0
	for _, e := range f {
		e.mu.Lock()
		var last time.Time
		for _, at := range e.times {
			if at.Before(from) || at.After(to) {
				continue
			}
			perSecond[int(at.Sub(from)/time.Second)]++
			total++
			if !last.IsZero() {
				off := math.Abs(float64(at.Sub(last)-interval)) / 1e6
				s.WorstGapMs = max(s.WorstGapMs, off)
				gaps++
				if off <= 50 {
					within++
				}
			}
			last = at
		}
		e.mu.Unlock()
	}
	if whole := perSecond[:len(perSecond)-1]; len(whole) > 0 && total > 0 { // the last second is partial
		s.BusiestSecond = float64(slices.Max(whole)) / (float64(total) / to.Sub(from).Seconds())
	}
	if gaps > 0 {
		s.GapsWithin50ms = float64(within) / float64(gaps)
	}
	if len(cpu) > 0 {
		sorted := slices.Sorted(slices.Values(cpu))
		s.CPUMedianMs, s.CPUP99Ms = sorted[len(sorted)/2], sorted[len(sorted)*99/100]
		if s.CPUMedianMs > 0 {
			s.CPUP99OverMedian = s.CPUP99Ms / s.CPUMedianMs
		}
		s.CPUSamples = cpu
	}
	return s
}

// sampleCPU samples the process' CPU time every 100 ms until the returned function is called, which
// returns the CPU time of each 100 ms, in milliseconds. It reads the scheduler's own count of each thread's
// time on a CPU, in nanoseconds (schedstat), where /proc/PID/stat counts in ticks of 10 ms: a runner that
// spends 5 ms every 100 ms would read as 0 in half the samples and 10 in the other half.
func sampleCPU(pid int) func() []float64 {
	stop, done := make(chan struct{}), make(chan []float64)
	go func() {
		var out []float64
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		last := threadsCPU(pid)
		for {
			select {
			case <-stop:
				done <- out
				return
			case <-tick.C:
				now := threadsCPU(pid)
				var ns int64
				for tid, t := range now {
					ns += t - last[tid] // a thread new since the last sample counts from 0
				}
				out = append(out, float64(ns)/1e6)
				last = now
			}
		}
	}()
	return func() []float64 { close(stop); return <-done }
}

// threadsCPU is each of the process' threads' time on a CPU so far, in nanoseconds, from
// /proc/PID/task/TID/schedstat (its first field). A thread that ended since the last sample loses the time
// it ran since; the runtimes measured here keep their threads.
func threadsCPU(pid int) map[string]int64 {
	into := make(map[string]int64)
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, task.Name()))
		if err != nil {
			continue
		}
		first, _, _ := strings.Cut(string(b), " ")
		if ns, err := strconv.ParseInt(first, 10, 64); err == nil {
			into[task.Name()] = ns
		}
	}
	return into
}

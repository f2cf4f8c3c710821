package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/agent"
	"github.com/influxdata/telegraf/metric"
	"github.com/influxdata/telegraf/models"
	"github.com/influxdata/telegraf/plugins/common/shim"
	"github.com/influxdata/telegraf/plugins/serializers/influx"

	plugin "github.com/discovering-prometheus/discovering-prometheus/plugins/inputs/discovering_prometheus"
)

// The execd protocol as Telegraf's shim speaks it: a line on stdin asks for a gather (or a poll interval
// drives them), metrics go to stdout as line protocol, and the process ends when stdin closes or on
// SIGINT/SIGTERM. The shim writes every metric with a write call of its own; at hundreds of samples per
// target that call cost more than scraping, so the runner writes each gather through one buffer. In serve
// mode the plugin scrapes each target on its own schedule, between gathers: with a poll interval each
// scrape is written as it ends (eachScrape); on request only, it is held for the next line (heldOutput).

// endOfGather marks, in the stream of metrics, where a gather ends: the writer flushes there.
var endOfGather = metric.New("end of gather", nil, nil, time.Time{})

// lineOutput serializes metrics as line protocol to a writer, one flush per gather. The plugin's direct
// line protocol (GatherLineProtocol) writes to the same buffer.
type lineOutput struct {
	metrics chan telegraf.Metric
	flushed chan error // after each endOfGather: the gather's write error, if any
	done    chan error
	out     *syncWriter
	logs    *stderrLog
	// direct is where the plugin writes line protocol itself: out, or in serve mode a writer over it that
	// writes each scrape as it ends, or one that holds them for the next request (held).
	direct io.Writer
	held   *heldOutput
}

// syncWriter is a buffered writer safe for the scrape workers and the serializer to share.
type syncWriter struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// Err is the writer's error: once a write fails, every later one does.
func (s *syncWriter) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Flush() // with nothing buffered, only the sticky error
}

// Flush writes out what is buffered.
func (s *syncWriter) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Flush()
}

// lineProtocolGatherer is an input that can write line protocol itself (the plugin, in its default format).
type lineProtocolGatherer interface {
	GatherLineProtocol(w io.Writer) (bool, error)
}

// gather runs one gather, straight to line protocol where the input can, else through the accumulator.
func (o *lineOutput) gather(input telegraf.Input, acc telegraf.Accumulator) error {
	if lp, ok := input.(lineProtocolGatherer); ok {
		if direct, err := lp.GatherLineProtocol(o.direct); direct || err != nil {
			return err
		}
	}
	return input.Gather(acc)
}

func newLineOutput(w io.Writer, logs *stderrLog) *lineOutput {
	o := &lineOutput{metrics: make(chan telegraf.Metric, 4096), flushed: make(chan error, 1), done: make(chan error, 1),
		out: &syncWriter{w: bufio.NewWriterSize(w, 256<<10)}, logs: logs}
	o.direct = o.out
	go func() {
		serializer := &influx.Serializer{}
		err := serializer.Init()
		out := o.out
		var failed unwritable
		var reported error // the writer's error once a gather has reported it: it sticks, say it once
		for m := range o.metrics {
			if m == endOfGather {
				failed.report(logs)
				err = errors.Join(err, out.Flush())
				o.flushed <- err
				reported, err = out.Err(), nil
				continue
			}
			b, serr := serializer.Serialize(m)
			if serr != nil {
				failed.add(m, serr)
				continue
			}
			_, werr := out.Write(b)
			err = errors.Join(err, werr)
		}
		failed.report(logs)
		if ferr := out.Flush(); ferr != reported {
			err = errors.Join(err, ferr)
		}
		o.done <- err
	}()
	return o
}

// unwritable counts the metrics of a gather that line protocol cannot carry, to log them once per gather
// rather than once per metric. A metric whose fields are all NaN or ±Inf is dropped without a word, as
// Telegraf's InfluxDB output drops it: the plugin logs its target's ±Inf samples itself, once.
type unwritable struct {
	n     int
	first error
}

func (u *unwritable) add(m telegraf.Metric, err error) {
	if !plugin.NonFinite(m) {
		if u.n++; u.first == nil {
			u.first = err
		}
	}
}

func (u *unwritable) report(logs *stderrLog) {
	if u.n > 0 {
		logs.print(telegraf.Error, runnerSource, fmt.Sprintf("%d metrics of the gather cannot be written as line protocol and were dropped; the first: %v", u.n, u.first))
	}
	*u = unwritable{}
}

// close writes what is left, the scrapes held for a request that did not come included, and reports the
// write errors not reported yet.
func (o *lineOutput) close() error {
	if o.held != nil {
		o.held.release()
	}
	close(o.metrics)
	return stdoutError(<-o.done)
}

// endGather flushes the gather's metrics, and the scrapes held since the last, and returns the error of any
// write of the gather. Once a write has failed, every later one fails too: the metrics have nowhere to go.
func (o *lineOutput) endGather() error {
	if o.held != nil {
		o.held.release()
	}
	o.metrics <- endOfGather
	return stdoutError(<-o.flushed)
}

// stdoutError names stdout, where the runner writes its metrics, in a write error.
func stdoutError(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("writing metrics to stdout: %w", err)
}

// prepare initialises the input as Telegraf would and returns an accumulator that feeds out.
func prepare(input telegraf.Input, out *lineOutput) (telegraf.Accumulator, error) {
	models.SetLoggerOnPlugin(input, out.logs.logger("inputs.discovering_prometheus"))
	if p, ok := input.(telegraf.Initializer); ok {
		if err := p.Init(); err != nil {
			return nil, err
		}
	}
	acc := agent.NewAccumulator(shim.New(), out.metrics)
	acc.SetPrecision(time.Nanosecond)
	return acc, nil
}

// gatherOnce runs the input through one gather and writes its metrics as line protocol. A signal cuts the
// gather short (see stopper).
func gatherOnce(input telegraf.Input, stdout io.Writer, logs *stderrLog) error {
	out := newLineOutput(stdout, logs)
	acc, err := prepare(input, out)
	var stop *stopper
	if err == nil {
		err = withService(input, acc, func() error {
			stop = watchStop(input, logs)
			return out.gather(input, acc)
		})
		stop.close()
	}
	err = errors.Join(err, out.close())
	stop.finish()
	return err
}

// serve speaks the execd protocol until stdin closes or a signal arrives (see stopper). A poll interval of
// 0 means gathers only on request.
func serve(input telegraf.Input, stdin io.Reader, stdout io.Writer, poll time.Duration, logs *stderrLog) error {
	out := newLineOutput(stdout, logs)
	acc, err := prepare(input, out)
	if err != nil {
		return errors.Join(err, out.close())
	}
	// Gathers follow one another here: the plugin scrapes each target on its own schedule, from its Start
	// on, and writes each scrape as it ends.
	if r, ok := input.(interface{ GathersRepeat() }); ok {
		r.GathersRepeat()
	}
	var tick <-chan time.Time
	if poll > 0 {
		ticker := time.NewTicker(poll)
		defer ticker.Stop()
		tick = ticker.C
		out.direct = eachScrape{out.out}
	} else {
		out.held = &heldOutput{out: out.out, limit: maxHeld}
		out.direct = out.held
	}
	if w, ok := input.(interface{ WriteLineProtocolTo(io.Writer) }); ok {
		w.WriteLineProtocolTo(out.direct)
	}
	var stop *stopper
	err = withService(input, acc, func() error {
		stop = watchStop(input, logs)
		requests := make(chan struct{}, 1)
		go func() {
			defer stop.stop()
			lines := bufio.NewReader(stdin)
			for {
				// A line is a request, whatever its length: a long one is read on to its end.
				if _, err := lines.ReadSlice('\n'); errors.Is(err, bufio.ErrBufferFull) {
					continue
				} else if err != nil {
					if !errors.Is(err, io.EOF) {
						logs.print(telegraf.Error, runnerSource, "reading stdin: "+err.Error())
					}
					return
				}
				select { // a request while one is pending adds nothing
				case requests <- struct{}{}:
				default:
				}
			}
		}()
		for {
			select {
			case <-stop.stopping:
				return nil
			case <-requests:
			case <-tick:
			}
			if err := out.gather(input, acc); err != nil {
				logs.print(telegraf.Error, runnerSource, "failed to gather metrics: "+err.Error())
			}
			if err := out.endGather(); err != nil {
				return err // stdout is gone: gathering on would only lose the metrics
			}
		}
	})
	stop.close()
	err = errors.Join(err, out.close())
	stop.finish()
	return err
}

// eachScrape writes what it is given, a scrape's lines, and flushes it at once: with a poll interval, the
// scrapes reach stdout as they end, spread over their interval as they are.
type eachScrape struct{ *syncWriter }

func (e eachScrape) Write(b []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, err := e.w.Write(b)
	if err == nil {
		err = e.w.Flush()
	}
	return n, err
}

// maxHeld is how many bytes of scrapes the runner holds for the next request with -poll_interval_disabled:
// some 300,000 samples of line protocol.
const maxHeld = 32 << 20

// heldOutput holds the scrapes' lines until the next request on stdin (-poll_interval_disabled), when
// endGather releases them, up to limit bytes: a scrape that would hold more is written at once, with what
// is held before it, rather than held. Nothing is dropped and the memory stays bounded; Telegraf's execd
// reads stdout whenever lines come.
type heldOutput struct {
	mu    sync.Mutex
	buf   []byte
	limit int
	out   *syncWriter
}

func (h *heldOutput) Write(b []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.buf)+len(b) <= h.limit {
		h.buf = append(h.buf, b...)
		return len(b), nil
	}
	h.releaseLocked()
	n, err := h.out.Write(b)
	return n, errors.Join(err, h.out.Flush())
}

// release writes what is held to out.
func (h *heldOutput) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.releaseLocked()
}

func (h *heldOutput) releaseLocked() {
	if len(h.buf) > 0 {
		_, _ = h.out.Write(h.buf) // an error sticks in out, for endGather to report
	}
	h.buf = h.buf[:0]
}

// stopGrace is how long the runner may take to stop once told to before it exits anyway.
const stopGrace = 5 * time.Second

// stopper stops the runner. The first SIGINT or SIGTERM, or stdin's end (serve), stops the input, which
// cancels its scrapes and discovery under way, so that the gather returns and the process ends within
// moments; a second signal exits at once, and so does a stop that takes longer than stopGrace.
type stopper struct {
	input    telegraf.Input
	logs     *stderrLog
	signals  chan os.Signal
	stopping chan struct{} // closed at the first
	once     sync.Once
	closed   chan struct{}

	mu       sync.Mutex
	grace    *time.Timer // exits the process when a stop takes longer than stopGrace
	finished bool        // the output is written: no exit is due any more
}

// watchStop starts a stopper for a started input; close ends it once the input has stopped.
func watchStop(input telegraf.Input, logs *stderrLog) *stopper {
	s := &stopper{input: input, logs: logs, signals: make(chan os.Signal, 2), stopping: make(chan struct{}), closed: make(chan struct{})}
	signal.Notify(s.signals, os.Interrupt, syscall.SIGTERM)
	go s.watch()
	return s
}

func (s *stopper) watch() {
	select {
	case sig := <-s.signals:
		s.logs.print(telegraf.Info, runnerSource, fmt.Sprintf("%s: stopping; a second signal exits at once", sig))
		s.stop()
	case <-s.stopping:
	case <-s.closed:
		return
	}
	select {
	case sig := <-s.signals:
		s.logs.print(telegraf.Warn, runnerSource, fmt.Sprintf("%s again: exiting at once", sig))
		s.logs.close(time.Second / 10) // a stderr nobody reads must not hold the exit
		os.Exit(exitCode(sig))
	case <-s.closed:
	}
}

// stop stops the input in the background, once: the gather under way, if any, returns soon after.
func (s *stopper) stop() {
	s.once.Do(func() {
		close(s.stopping)
		s.mu.Lock()
		if !s.finished {
			s.grace = time.AfterFunc(stopGrace, func() {
				s.logs.print(telegraf.Error, runnerSource, fmt.Sprintf("not stopped within %s: exiting", stopGrace))
				s.logs.close(time.Second / 10)
				os.Exit(1)
			})
		}
		s.mu.Unlock()
		if si, ok := s.input.(telegraf.ServiceInput); ok {
			go si.Stop()
		}
	})
}

// close ends the watch; signals take their default action again, which ends the process at once. A nil
// stopper (the input did not start) has nothing to close.
func (s *stopper) close() {
	if s == nil {
		return
	}
	signal.Stop(s.signals)
	close(s.closed)
}

// finish tells the stopper that the output is written: a stop, under way or to come, owes no exit any
// more (in a test binary it would end every other test). A nil stopper has nothing to finish.
func (s *stopper) finish() {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.finished = true
	if s.grace != nil {
		s.grace.Stop()
	}
}

// exitCode is the shell's status for a process ended by the signal: 128 and its number.
func exitCode(sig os.Signal) int {
	if n, ok := sig.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return 1
}

// withService starts a service input around f and stops it afterwards.
func withService(input telegraf.Input, acc telegraf.Accumulator, f func() error) error {
	if s, ok := input.(telegraf.ServiceInput); ok {
		if err := s.Start(acc); err != nil {
			return err
		}
		defer s.Stop()
	}
	return f()
}

package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/influxdata/telegraf"

	"github.com/discovering-prometheus/discovering-prometheus/internal/safetext"
)

// The runner's log. Under inputs.execd its stderr is read by Telegraf, which takes a line that starts with
// "E! ", "W! ", "I! ", "D! " or "T! " for a record of that level and any other line for an error; it reads
// lines of up to 64 KiB, and stops reading stderr for good at a longer one. A write to a stderr nobody
// reads blocks, and a write inside a scrape then holds the gather forever. So every record, the plugin's
// and any that goes through Telegraf's or Go's standard logger, is one line, level first, escaped and
// short, and is queued: a goroutine writes the queue to stderr, and a record that finds the queue full is
// dropped and counted, never waited for. The count is logged when stderr takes lines again.

// logQueueLen is how many lines wait for stderr before more are dropped.
const logQueueLen = 1024

// runnerSource names the runner's own records (the plugin's are [inputs.discovering_prometheus]).
const runnerSource = "discovering-prometheus"

type stderrLog struct {
	level   atomic.Int32 // a telegraf.LogLevel
	lines   chan []byte
	wake    chan struct{} // a line was dropped
	dropped atomic.Uint64 // not yet reported
	total   atomic.Uint64 // ever
	closing chan struct{}
	done    chan struct{}
	once    sync.Once
}

// newStderrLog starts writing the records of level Info and above to w; setLevel changes the level.
func newStderrLog(w io.Writer, queue int) *stderrLog {
	l := &stderrLog{
		lines:   make(chan []byte, queue),
		wake:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	l.setLevel(telegraf.Info)
	go l.drain(w)
	return l
}

func (l *stderrLog) setLevel(level telegraf.LogLevel) { l.level.Store(int32(level)) }

func (l *stderrLog) getLevel() telegraf.LogLevel { return telegraf.LogLevel(l.level.Load()) }

func (l *stderrLog) drain(w io.Writer) {
	defer close(l.done)
	// The drops are reported once what was queued before them is out, or after more than a queue's length
	// of lines when stderr keeps the queue from ever running empty.
	written := 0
	report := func() {
		written = 0
		if n := l.dropped.Swap(0); n > 0 {
			_, _ = w.Write(l.format(telegraf.Warn, runnerSource,
				fmt.Sprintf("%d log lines dropped: stderr was not read fast enough", n)))
		}
	}
	for {
		select {
		case line := <-l.lines:
			_, _ = w.Write(line)
			if written++; len(l.lines) == 0 || written > cap(l.lines) {
				report()
			}
		case <-l.wake:
			if len(l.lines) == 0 {
				report()
			}
		case <-l.closing:
			for {
				select {
				case line := <-l.lines:
					_, _ = w.Write(line)
				default:
					report()
					return
				}
			}
		}
	}
}

// close writes what is queued, waiting for stderr at most timeout: a runner that ends must not hang on
// a stderr nobody reads.
func (l *stderrLog) close(timeout time.Duration) {
	l.once.Do(func() { close(l.closing) })
	select {
	case <-l.done:
	case <-time.After(timeout):
	}
}

// Dropped is how many lines were dropped since the runner started.
func (l *stderrLog) Dropped() uint64 { return l.total.Load() }

// print queues one record, unless its level is off or the queue is full.
func (l *stderrLog) print(level telegraf.LogLevel, source, msg string) {
	if !l.getLevel().Includes(level) {
		return
	}
	select {
	case l.lines <- l.format(level, source, msg):
	default:
		l.dropped.Add(1)
		l.total.Add(1)
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// format writes a record as Telegraf's execd reads it: "W! [source] message", on one line of bounded
// length.
func (*stderrLog) format(level telegraf.LogLevel, source, msg string) []byte {
	msg = safetext.Line(msg, maxLogLine)
	b := make([]byte, 0, len(msg)+len(source)+8)
	b = append(b, level.Indicator()...)
	b = append(b, " ["...)
	b = append(b, source...)
	b = append(b, "] "...)
	b = append(b, msg...)
	return append(b, '\n')
}

// maxLogLine bounds a record's message, in bytes.
const maxLogLine = 4096

// Write takes the records of Telegraf's global logger (logger.RedirectLogging), which reach it as
// "<RFC3339 time> <level indicator> [source] message\n", one per call, and queues them as its own.
func (l *stderrLog) Write(p []byte) (int, error) {
	rec := strings.TrimRight(string(p), "\n")
	level, msg := telegraf.Error, rec
	if _, rest, ok := strings.Cut(rec, " "); ok {
		if ind, m, ok := strings.Cut(rest, " "); ok {
			if lv, known := indicators[ind]; known {
				level, msg = lv, m
			}
		}
	}
	source := "telegraf"
	if strings.HasPrefix(msg, "[") {
		if end := strings.Index(msg, "] "); end > 0 {
			source, msg = msg[1:end], msg[end+2:]
		}
	}
	if strings.HasPrefix(msg, "(") { // a logger's attributes: "(category=inputs,plugin=...)"
		if end := strings.Index(msg, ") "); end > 0 {
			msg = msg[end+2:]
		}
	}
	l.print(level, source, msg)
	return len(p), nil
}

var indicators = map[string]telegraf.LogLevel{
	"E!": telegraf.Error, "W!": telegraf.Warn, "I!": telegraf.Info, "D!": telegraf.Debug, "T!": telegraf.Trace,
}

// logger returns the plugin's telegraf.Logger, writing to the queue.
func (l *stderrLog) logger(source string) telegraf.Logger { return &queueLogger{q: l, source: source} }

// queueLogger is a telegraf.Logger on a stderrLog.
type queueLogger struct {
	q      *stderrLog
	source string
}

func (g *queueLogger) Level() telegraf.LogLevel       { return g.q.getLevel() }
func (*queueLogger) AddAttribute(string, interface{}) {}
func (g *queueLogger) Errorf(format string, args ...any) {
	g.q.print(telegraf.Error, g.source, fmt.Sprintf(format, args...))
}
func (g *queueLogger) Error(args ...any) { g.q.print(telegraf.Error, g.source, fmt.Sprint(args...)) }
func (g *queueLogger) Warnf(format string, args ...any) {
	g.q.print(telegraf.Warn, g.source, fmt.Sprintf(format, args...))
}
func (g *queueLogger) Warn(args ...any) { g.q.print(telegraf.Warn, g.source, fmt.Sprint(args...)) }
func (g *queueLogger) Infof(format string, args ...any) {
	g.q.print(telegraf.Info, g.source, fmt.Sprintf(format, args...))
}
func (g *queueLogger) Info(args ...any) { g.q.print(telegraf.Info, g.source, fmt.Sprint(args...)) }
func (g *queueLogger) Debugf(format string, args ...any) {
	g.q.print(telegraf.Debug, g.source, fmt.Sprintf(format, args...))
}
func (g *queueLogger) Debug(args ...any) { g.q.print(telegraf.Debug, g.source, fmt.Sprint(args...)) }
func (g *queueLogger) Tracef(format string, args ...any) {
	g.q.print(telegraf.Trace, g.source, fmt.Sprintf(format, args...))
}
func (g *queueLogger) Trace(args ...any) { g.q.print(telegraf.Trace, g.source, fmt.Sprint(args...)) }

// errorLines queues a multi-line error (a configuration's) as one record per line.
func (l *stderrLog) errorLines(err error) {
	for line := range strings.SplitSeq(err.Error(), "\n") {
		l.print(telegraf.Error, runnerSource, line)
	}
}

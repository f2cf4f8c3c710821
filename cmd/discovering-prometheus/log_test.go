package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/logger"
	"github.com/influxdata/telegraf/metric"
	"github.com/stretchr/testify/require"
)

// stuckWriter is a stderr whose reader stopped reading: Write blocks until release, and says when the
// first Write started.
type stuckWriter struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	buf     bytes.Buffer
}

func newStuckWriter() *stuckWriter {
	return &stuckWriter{entered: make(chan struct{}), release: make(chan struct{})}
}

func (w *stuckWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.entered) })
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func (w *stuckWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// A stderr that nobody reads does not hold up whoever logs (a scrape, inside a gather): the lines beyond
// the queue are dropped and counted, and when stderr takes lines again the count is logged, after the
// lines queued before the drops.
func TestStderrLogNeverBlocksOnAnUnreadStderr(t *testing.T) {
	w := newStuckWriter()
	logs := newStderrLog(w, 4)
	plugin := logs.logger("inputs.discovering_prometheus")
	plugin.Info("line 0")
	<-w.entered // the writer holds line 0 and blocks; the queue is empty
	for i := 1; i <= 100; i++ {
		plugin.Warnf("line %d", i) // returns at once: this test would hang, not fail, if it did not
	}
	require.EqualValues(t, 96, logs.Dropped())

	close(w.release)
	logs.close(time.Minute)
	require.Equal(t, `I! [inputs.discovering_prometheus] line 0
W! [inputs.discovering_prometheus] line 1
W! [inputs.discovering_prometheus] line 2
W! [inputs.discovering_prometheus] line 3
W! [inputs.discovering_prometheus] line 4
W! [discovering-prometheus] 96 log lines dropped: stderr was not read fast enough
`, w.String())
	require.EqualValues(t, 96, logs.Dropped(), "the total stays for the self metrics")
}

// Every record is one line that starts with its level as Telegraf's inputs.execd reads it (which takes
// any other line for an error), with its newlines and control bytes escaped and its length bounded.
func TestStderrLogWritesOneLinePerRecordLevelFirst(t *testing.T) {
	var out bytes.Buffer
	logs := newStderrLog(&out, logQueueLen)
	plugin := logs.logger("inputs.discovering_prometheus")
	plugin.Error("an error\nwith a second line")
	plugin.Warnf("%s", "a \x1b[31mred\x1b[0m warning")
	plugin.Info("info")
	plugin.Debug("not at level info")
	plugin.Info(strings.Repeat("x", 1<<20))
	logs.setLevel(telegraf.Debug)
	plugin.Debug("debug once asked for")
	logs.close(time.Minute)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Equal(t, []string{
		`E! [inputs.discovering_prometheus] an error\nwith a second line`,
		`W! [inputs.discovering_prometheus] a \x1b[31mred\x1b[0m warning`,
		`I! [inputs.discovering_prometheus] info`,
		`I! [inputs.discovering_prometheus] ` + strings.Repeat("x", maxLogLine) + `... (1048576 bytes)`,
		`D! [inputs.discovering_prometheus] debug once asked for`,
	}, lines)
}

// What goes through Telegraf's logger (its config loader, its serializers, Go's standard logger, which
// Telegraf points at its own) leaves the runner the same way: no timestamp first, which Telegraf's execd
// would show as an error, and nothing kept in memory, which Telegraf's logger does with every record until
// its logging is set up.
func TestTelegrafLoggerGoesThroughTheQueue(t *testing.T) {
	var out bytes.Buffer
	logs := newStderrLog(&out, logQueueLen)
	logger.RedirectLogging(logs)
	log.Printf("W! [serializers.influx] a warning")
	log.Printf("a line without a level")
	log.Printf("D! [serializers.influx] could not serialize field %q: is Inf; discarding field", "value")
	logger.New("inputs", "discovering_prometheus", "").Error("from a model's logger")
	logs.close(time.Minute)
	require.Equal(t, `W! [serializers.influx] a warning
I! [telegraf] a line without a level
E! [inputs.discovering_prometheus] from a model's logger
`, out.String())
}

// The metrics of a gather that line protocol cannot carry are logged once for the gather, not once each;
// those whose every field is NaN or ±Inf are dropped without a word (the plugin logs its targets' ±Inf
// samples itself), as Telegraf's InfluxDB output drops them.
func TestUnwritableMetricsAreLoggedOncePerGather(t *testing.T) {
	var stdout, stderr bytes.Buffer
	logs := newStderrLog(&stderr, logQueueLen)
	out := newLineOutput(&stdout, logs)
	now := time.Unix(1700000000, 0)
	for range 2 {
		for i := range 1000 {
			out.metrics <- metric.New("inf", map[string]string{"i": fmt.Sprint(i)}, map[string]any{"value": math.Inf(1)}, now)
		}
		out.metrics <- metric.New("nan", nil, map[string]any{"value": math.NaN()}, now)
		out.metrics <- metric.New("empty", nil, map[string]any{}, now)
		out.metrics <- metric.New("empty", nil, map[string]any{}, now)
		out.metrics <- metric.New("ok", nil, map[string]any{"value": 1.0}, now)
		require.NoError(t, out.endGather())
	}
	require.NoError(t, out.close())
	logs.close(time.Minute)
	require.Equal(t, "ok value=1 1700000000000000000\nok value=1 1700000000000000000\n", stdout.String())
	line := "E! [discovering-prometheus] 2 metrics of the gather cannot be written as line protocol and were dropped; the first: \"empty\": no serializable fields\n"
	require.Equal(t, line+line, stderr.String())
}

// The lines dropped are counted in the runner's self metrics, which the embedded default configuration
// scrapes.
func TestSelfMetricsCountDroppedLogLines(t *testing.T) {
	t.Setenv(selfEnv, "") // restored when the test ends
	w := newStuckWriter()
	logs := newStderrLog(w, 1)
	defer close(w.release)
	logs.print(telegraf.Info, runnerSource, "taken")
	<-w.entered
	for range 3 {
		logs.print(telegraf.Info, runnerSource, "one queued, two dropped")
	}
	s, err := serveSelfMetrics(logs)
	require.NoError(t, err)
	defer s.Close()
	resp, err := (&http.Client{Timeout: time.Minute}).Get("http://" + os.Getenv(selfEnv) + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Contains(t, string(body), "\ndiscovering_prometheus_log_lines_dropped_total 2\n")
}

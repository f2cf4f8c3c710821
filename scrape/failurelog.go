package scrape

import (
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/prometheus/prometheus/util/logging"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// failureLog is scrape-failure-log-file: a JSON line for every failed scrape, written by Prometheus 3's
// own JSON file logger, with its keys: time, level ERROR, source, msg (the error), job_name and target
// (the scrape URL, its password masked). Prometheus logs the failures of its fetch only; here every
// failed scrape is, its parse included, with the error the target's lastError shows. The file is opened
// for each line, in append mode: a file rotated away (logrotate) is created again, and a stopped scraper
// leaves nothing open.
type failureLog struct {
	path, job string
	// failing is set while the file cannot be written, so that the scraper's log says so once.
	failing atomic.Bool
}

// newFailureLog checks that the file can be written (creating it) and returns its log; nil without a path.
// An error names the key, a job's or a [[scraper]]'s.
func newFailureLog(key, path, job string) (*failureLog, error) {
	if path == "" {
		return nil, nil
	}
	l := &failureLog{path: path, job: job}
	f, err := logging.NewJSONFileLogger(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return l, f.Close()
}

// write appends the line of a failed scrape of the target; a file that cannot be written is logged once,
// until it can again.
func (l *failureLog) write(logger *slog.Logger, t *Target, lastError string) {
	if l == nil {
		return
	}
	f, err := logging.NewJSONFileLogger(l.path)
	if err == nil {
		slog.New(f).With("job_name", l.job).With("target", httpconfig.RedactURL(t.URL)).Error(lastError)
		err = f.Close()
	}
	if err != nil && !l.failing.Swap(true) {
		logger.Warn("scrape-failure-log-file: cannot write the failed scrapes", "err", err)
	}
	if err == nil {
		l.failing.Store(false)
	}
}

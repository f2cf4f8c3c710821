package scrape

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	promconfig "github.com/prometheus/common/config"
	"github.com/stretchr/testify/require"
)

// failureLines reads the JSON lines of a scrape-failure-log-file.
func failureLines(t *testing.T, path string) []map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []map[string]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var line map[string]string
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line), sc.Text())
		out = append(out, line)
	}
	return out
}

// Every failed scrape, of its fetch or of its parse, is a JSON line with Prometheus 3's keys; a good one
// is none. A file rotated away is created again.
func TestScrapeFailureLogFile(t *testing.T) {
	garbage, _ := serve(t, "text/plain", []byte("this is { not the format\n"), false)
	status := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "no", http.StatusServiceUnavailable) }))
	defer status.Close()
	good, _ := serve(t, "text/plain", []byte("ok_metric 1\n"), false)
	path := filepath.Join(t.TempDir(), "failures.log")
	c := valid()
	c.ScrapeFailureLogFile = path
	s := newScraper(t, c, strings.TrimPrefix(garbage.URL, "http://"), strings.TrimPrefix(status.URL, "http://"), strings.TrimPrefix(good.URL, "http://"))
	_, err := os.Stat(path)
	require.NoError(t, err, "New creates the file")
	scrapeOnce(t, s)

	lines := failureLines(t, path)
	require.Len(t, lines, 2)
	byTarget := map[string]map[string]string{}
	for _, line := range lines {
		require.ElementsMatch(t, []string{"time", "level", "source", "msg", "job_name", "target"}, keys(line))
		require.Equal(t, "ERROR", line["level"])
		require.Equal(t, "node", line["job_name"])
		byTarget[line["target"]] = line
	}
	require.Equal(t, "server returned HTTP status 503 Service Unavailable", byTarget[status.URL+"/metrics"]["msg"])
	require.Contains(t, byTarget[garbage.URL+"/metrics"]["msg"], "parsing")

	require.NoError(t, os.Remove(path))
	Run(context.Background(), []*Scraper{s}, time.Now().Add(time.Hour), 4, (&recorder{}).sink) // every target due again
	require.Len(t, failureLines(t, path), 2, "the file is created again")
}

// A file that cannot be written is an error of the scraper, naming the key.
func TestScrapeFailureLogFileUnwritable(t *testing.T) {
	c := valid()
	c.ScrapeFailureLogFile = filepath.Join(t.TempDir(), "missing", "failures.log")
	require.NoError(t, c.Init())
	_, err := New(c, nil, discard)
	require.ErrorContains(t, err, "scrape-failure-log-file: can't create json log file: open ")
	client := promconfig.DefaultHTTPClientConfig
	_, err = New(c, &JobExtras{HTTPClient: &client}, discard)
	require.ErrorContains(t, err, "scrape_failure_log_file: ")
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

package scrape

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/stretchr/testify/require"
)

// logBuffer is a slog handler's output, safe for the scrapes to write to.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// loggedScraper is newScraper with a logger that writes to the returned buffer.
func loggedScraper(t *testing.T, c *Config, addr string) (*Scraper, *logBuffer) {
	t.Helper()
	require.NoError(t, c.Init())
	logs := &logBuffer{}
	s, err := New(c, nil, slog.New(slog.NewTextHandler(logs, nil)))
	require.NoError(t, err)
	require.Empty(t, s.Sync([]*targetgroup.Group{{Source: "test", Targets: []model.LabelSet{{model.AddressLabel: model.LabelValue(addr)}}}}))
	return s, logs
}

// A target that serves one huge line fails its scrape with an error that quotes a short, escaped excerpt
// of it and says at which byte of the body the line starts; the log line says the same, and is as short.
// Before, the error quoted the whole line: a 50 MB line made a 50 MB log line, which stopped Telegraf's
// inputs.execd from reading the runner's stderr.
func TestLongLineErrorIsShortAndSaysWhere(t *testing.T) {
	huge := `big{l="` + strings.Repeat("x", 4<<20) + "\"} not-a-number \x1b[31m"
	for _, tc := range []struct {
		name, contentType, prefix string
		gzipped                   bool
	}{
		{"text", "text/plain; version=0.0.4", "# TYPE ok gauge\nok 1\n\n", false},
		{"text, gzipped", "text/plain; version=0.0.4", "# HELP ok Fine.\n# TYPE ok gauge\nok 1\n", true},
		{"OpenMetrics", "application/openmetrics-text; version=1.0.0", "# TYPE ok gauge\n# HELP ok Fine.\nok 1\n", false},
		{"first line", "text/plain; version=0.0.4", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := serve(t, tc.contentType, []byte(tc.prefix+huge+"\nafter 1\n"), tc.gzipped)
			s, logs := loggedScraper(t, valid(), strings.TrimPrefix(srv.URL, "http://"))
			r := scrapeOnce(t, s)
			require.Empty(t, r.series("ok"), "a failed scrape delivers nothing")

			lastError := s.Targets()[0].Health().LastError
			require.LessOrEqual(t, len(lastError), MaxErrorLen+len("... (12345678 bytes)"))
			require.Contains(t, lastError, fmt.Sprintf("line at byte offset %d: ", len(tc.prefix)))
			require.Contains(t, lastError, `"big{l=\"xxxxxxxx`)
			require.Regexp(t, `"\.\.\. \(419\d{4} bytes\)`, lastError, "the excerpt says how long the line was")
			require.NotContains(t, lastError, strings.Repeat("x", 200))

			log := logs.String()
			require.Equal(t, 1, strings.Count(log, "\n"), "one log line: %.500s", log)
			require.Contains(t, log, "scrape failed")
			require.Less(t, len(log), 2*MaxErrorLen)
		})
	}
}

// The errors about one sample (a limit, a duplicate label) say which line it is on, and quote its names
// short, however long the target made them.
func TestSampleErrorsQuoteShortAndSayWhere(t *testing.T) {
	name := strings.Repeat("n", 1<<20)
	prefix := "ok 1\n# a comment\n"
	body := prefix + name + `{a="1",b="2",c="3"} 1` + "\n"
	srv, _ := serve(t, "text/plain; version=0.0.4", []byte(body), false)
	c := valid()
	c.LabelLimit = 4
	s, _ := loggedScraper(t, c, strings.TrimPrefix(srv.URL, "http://"))
	scrapeOnce(t, s)
	lastError := s.Targets()[0].Health().LastError
	require.Equal(t, fmt.Sprintf(`line at byte offset %d: label limit of 4 exceeded by %q... (%d bytes) (6 labels)`, len(prefix), strings.Repeat("n", 100), len(name)), lastError)
}

// What a target sends back in place of a body, its status line's reason phrase, reaches the target's last
// error and the log escaped: no escape sequence or line break of a target's making gets to a terminal or
// to Telegraf's log.
func TestReasonPhraseIsEscaped(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_, _ = http.ReadRequest(bufio.NewReader(conn))
				_, _ = conn.Write([]byte("HTTP/1.1 503 \x1b[2J\x1b[31mdown\x07 \xff" + strings.Repeat("!", 5000) + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
			}()
		}
	}()
	s, logs := loggedScraper(t, valid(), l.Addr().String())
	scrapeOnce(t, s)
	lastError := s.Targets()[0].Health().LastError
	require.True(t, strings.HasPrefix(lastError, `server returned HTTP status 503 \x1b[2J\x1b[31mdown\a \xff!!!`), lastError)
	require.LessOrEqual(t, len(lastError), MaxErrorLen+len("... (12345678 bytes)"))
	for _, c := range []string{"\x1b", "\x07", "\xff"} {
		require.NotContains(t, lastError, c)
		require.NotContains(t, logs.String(), c)
	}
}

package scrape

// The fetch stage: the request a scrape sends, the body read within its limit, and the body inflated when
// it came gzip-compressed.

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/influxdata/telegraf/config"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// UserAgent is sent with every scrape.
var UserAgent = "discovering-prometheus"

// acceptHeader asks for what Prometheus asks for, in its order (OpenMetrics first), with the protobuf format
// accepted too: the header of a scraper whose Config has no Accept of its own.
const acceptHeader = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6," +
	"application/openmetrics-text;version=0.0.1;q=0.5," +
	"text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4," +
	"text/plain;version=0.0.4;q=0.3," +
	"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.2," +
	"*/*;q=0.1"

// acceptHeaderProtoFirst is the header of a scraper that scrapes native histograms, which only the protobuf
// format carries: protobuf first, as Prometheus asks with scrape_native_histograms
// (DefaultProtoFirstScrapeProtocols).
const acceptHeaderProtoFirst = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6," +
	"application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5," +
	"application/openmetrics-text;version=0.0.1;q=0.4," +
	"text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3," +
	"text/plain;version=0.0.4;q=0.2," +
	"*/*;q=0.1"

func requestHeader(timeout time.Duration, compression bool, accept string) http.Header {
	encoding := "gzip"
	if !compression {
		encoding = "identity"
	}
	if accept == "" {
		accept = acceptHeader
	}
	return http.Header{
		"Accept":                              {accept},
		"Accept-Encoding":                     {encoding},
		"User-Agent":                          {UserAgent},
		"X-Prometheus-Scrape-Timeout-Seconds": {strconv.FormatFloat(timeout.Seconds(), 'f', -1, 64)},
	}
}

// fetcher holds what a fetch reuses from one scrape to the next.
type fetcher struct{ body []byte }

// fetch reads the target's body into f.body as it came, gzip-compressed or not, and returns its
// Content-Type and whether it is compressed: a body waiting for a parse slot takes no more memory than it
// took on the wire, and is inflated in the slot.
func (f *fetcher) fetch(ctx context.Context, s *Scraper, t *Target) (contentType string, gzipped bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL, nil)
	if err != nil {
		// The URL does not parse (an __address__ with userinfo): the parser's error quotes it, password and all.
		return "", false, httpconfig.URLError(t.URL, err)
	}
	req.Header = s.header
	resp, err := s.client.Do(req)
	if err != nil {
		return "", false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return "", false, fmt.Errorf("server returned HTTP status %s", resp.Status)
	}
	// A compressed body is limited too: it is never larger than what it inflates to but for gzip's few
	// bytes of framing, so the limit on inflated bytes (in inflate) decides all but such edge cases.
	limit := int64(s.cfg.BodySizeLimit)
	if limit > 0 && resp.ContentLength > limit {
		return "", false, fmt.Errorf("%w of %d bytes exceeded: Content-Length is %d", errBodySizeLimit, limit, resp.ContentLength)
	}
	if f.body, err = readLimited(f.body, resp.Body, limit, resp.ContentLength, nil); err != nil {
		return "", false, err
	}
	return resp.Header.Get("Content-Type"), resp.Header.Get("Content-Encoding") == "gzip", nil
}

// inflater is what inflating a gzip-compressed body reuses: the reader, and the body inflated.
type inflater struct {
	compressed bytes.Reader
	gzip       *gzip.Reader
	inflated   []byte
}

// inflate returns the body to parse: raw, or raw inflated into w.inflated when it is gzip-compressed. It
// fails once the scrape's deadline has passed.
func (w *worker) inflate(raw []byte, gzipped bool, limit config.Size) ([]byte, error) {
	if !gzipped {
		return raw, nil
	}
	w.compressed.Reset(raw)
	var err error
	if w.gzip == nil {
		w.gzip, err = gzip.NewReader(&w.compressed)
	} else {
		err = w.gzip.Reset(&w.compressed)
	}
	if err != nil {
		return nil, fmt.Errorf("gzip body: %w", err)
	}
	// The limit counts uncompressed bytes, so it also stops a gzip bomb; the deadline is looked at after
	// every read, each at most a window of gzip's (32 KiB).
	w.inflated, err = readLimited(w.inflated, w.gzip, int64(limit), -1, w)
	if err != nil {
		return nil, err
	}
	return w.inflated, nil
}

// minRead is the room readLimited makes before a read: the first allocation of an empty buffer.
const minRead = 32 << 10

// readLimited reads r to its end into buf[:0] and returns it, failing once it holds more than limit bytes
// (limit <= 0: no limit). The buffer doubles as it fills but never grows past limit+1 bytes, so that a body
// cut off at the limit has cost at most that buffer and the one it grew from; size, when known (>= 0),
// sizes it at once. progress, when not nil, checks the bytes read so far after each read.
func readLimited(buf []byte, r io.Reader, limit, size int64, progress interface{ readProgress(n int) error }) ([]byte, error) {
	most := int64(math.MaxInt)
	if limit > 0 {
		most = limit + 1
	}
	buf = buf[:0]
	if size >= 0 && int64(cap(buf)) <= size {
		buf = make([]byte, 0, min(size+1, most)) // +1: room to read the end of the body
	}
	for {
		if len(buf) == cap(buf) {
			if int64(len(buf)) >= most {
				break
			}
			n := max(2*int64(cap(buf)), minRead)
			if n >= most-1 {
				n = most // not the limit itself: a body of exactly the limit would grow once more to end
			}
			grown := make([]byte, len(buf), n)
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return buf, fmt.Errorf("reading body after %d bytes: %w", len(buf), err)
		}
		if progress != nil {
			if err := progress.readProgress(len(buf)); err != nil {
				return buf, err
			}
		}
	}
	if limit > 0 && int64(len(buf)) > limit {
		return buf, fmt.Errorf("%w of %d bytes exceeded", errBodySizeLimit, limit)
	}
	return buf, nil
}

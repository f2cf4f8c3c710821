package discovery

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// maxAnswerSize is the most one answer of a discoverer's HTTP API may hold: 64 MiB, as the scrapers'
// default body-size-limit. The discoverers below read an answer whole and then decode it, which takes
// several times its size again: an HTTP SD answer of 1 GiB ran the process out of memory in 5 s. Real
// answers are far smaller: an HTTP SD target group of a few labels is some 300 bytes, so 64 MiB lists
// some 200,000 targets; a Marathon app with its tasks is a few KB. A variable for the tests.
var maxAnswerSize int64 = 64 << 20

// wholeAnswers are the mechanisms of Prometheus' discoverers that read their answers whole with
// io.ReadAll (or decode them without a bound) and keep their client in a field "client *http.Client" of
// the discoverer NewDiscoverer returns. None of them takes an option that wraps its client's transport, so
// boundAnswers reaches the field by reflection; TestAnswerLimitReachesEveryClient fails if Prometheus
// renames it. (Hetzner's robot role keeps its client out of reach, in a closure: it is not bounded.)
var wholeAnswers = map[string]bool{"http": true, "marathon": true, "triton": true, "puppetdb": true, "eureka": true}

// boundsItsAnswers is a discoverer of ours that bounds the answers of the Prometheus discoverers it creates
// itself (marathon's, which restarts them).
type boundsItsAnswers interface{ boundsAnswers() }

// boundAnswers puts maxAnswerSize on every answer that d, a discoverer of the mechanism, reads, before it
// runs. Where the mechanism reads whole answers but d's client is not found, d runs unbounded, and logger
// says so.
func boundAnswers(d any, mechanism string, logger *slog.Logger) {
	if _, ok := d.(boundsItsAnswers); ok || !wholeAnswers[mechanism] {
		return
	}
	if limitClients(d) == 0 {
		logger.Error("cannot bound the size of this discoverer's answers: Prometheus' discoverer has no field client *http.Client", "mechanism", mechanism, "limit", maxAnswerSize)
	}
}

// limitClients wraps the transport of each *http.Client field of the struct d points to, and returns how
// many it wrapped.
func limitClients(d any) int {
	v := reflect.ValueOf(d)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return 0
	}
	v = v.Elem()
	n := 0
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Type() != reflect.TypeFor[*http.Client]() || f.IsNil() {
			continue
		}
		// The field is unexported, so reflection may not set it; the client it points to is changed
		// instead, before the discoverer sends anything.
		client := (*http.Client)(f.UnsafePointer())
		base := client.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		client.Transport = answerLimit{base}
		n++
	}
	return n
}

// answerLimit refuses an answer whose Content-Length is over maxAnswerSize, and fails the reading of one
// that turns out longer.
type answerLimit struct{ next http.RoundTripper }

func (t answerLimit) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	if resp.ContentLength > maxAnswerSize {
		resp.Body.Close()
		return nil, answerTooLarge(req)
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: maxAnswerSize, req: req}
	return resp, nil
}

// answerTooLarge is the error of an answer to req over maxAnswerSize, made only when one is.
func answerTooLarge(req *http.Request) error {
	return fmt.Errorf("the answer of %s is larger than %d MiB, the most a discoverer reads", httpconfig.RedactURL(req.URL.String()), maxAnswerSize>>20)
}

// limitedBody reads at most left bytes of the answer to req, and fails if there are more.
type limitedBody struct {
	io.ReadCloser
	left int64
	req  *http.Request
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, answerTooLarge(b.req)
	}
	// One byte more than is left tells whether the answer goes on.
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	if b.left -= int64(n); b.left < 0 {
		return n - 1, answerTooLarge(b.req)
	}
	return n, err
}

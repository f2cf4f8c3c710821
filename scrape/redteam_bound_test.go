package scrape

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A value of exactly 16 MiB (1<<24 bytes) is the one length Prometheus' labels encode without panicking
// but wrongly: its 3-byte size field wraps to 0, and the value's own bytes are then decoded as further
// labels. Metric relabeling that makes one (16 copies of a 1 MiB value) must fail the scrape at the bound,
// not deliver labels forged from the value.
func TestRelabelingToExactlySixteenMiBFailsAtTheBound(t *testing.T) {
	value := forgingValue(t)
	hostile, _ := serve(t, "text/plain; version=0.0.4", []byte(`m{l="`+value+`"} 1`+"\n"), false)
	c := valid()
	c.MetricRelabelConfigs = []*Relabel{{SourceLabels: []string{"l"}, TargetLabel: "copy", Replacement: ptr(strings.Repeat("$1", 16))}, {Regex: ptr("l"), Action: "labeldrop"}}
	s := newScraper(t, c, strings.TrimPrefix(hostile.URL, "http://"))
	r := scrapeOnce(t, s)
	require.Empty(t, r.series("m"), "nothing of the failed scrape")
	lastError := s.Targets()[0].Health().LastError
	require.Contains(t, lastError, boundText)
	require.NotContains(t, lastError, "panic")
}

// forgingValue is a value of MaxLabelBytes that, 16 times over and read as encoded labels, is a run of
// labels named x... and z... in turn, every byte ASCII: a size byte below 127, then that many bytes.
func forgingValue(t testing.TB) string {
	label := func(size byte, name string) string {
		return string(size) + strings.Repeat(name, int(size)) + string(size) + strings.Repeat("y", int(size))
	}
	value := strings.Repeat(label('~', "x")+label('~', "z"), 2063) + label('~', "x") + label('d', "z") + label('9', "x")
	require.Len(t, value, MaxLabelBytes)
	return value
}

// The same value of exactly 16 MiB, served as it is to textparse (OpenMetrics, or the text format with a
// quoted name, which text.go's splitting leaves to textparse's Labels()), fails the scrape at the bound: longestLabel's guard before textparse encodes the series must
// take it as too long to encode.
func TestSixteenMiBValueThroughTextparseFailsAtTheBound(t *testing.T) {
	value := strings.Repeat(forgingValue(t), 16)
	for _, tc := range []struct{ name, contentType, body string }{
		{"OpenMetrics", openMetricsType, `m{"l"="` + value + `"} 1` + "\n# EOF\n"},
		{"text", "text/plain; version=1.0.0; escaping=allow-utf-8", `{"m", l="` + value + `"} 1` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hostile, _ := serve(t, tc.contentType, []byte(tc.body), false)
			s := newScraper(t, valid(), strings.TrimPrefix(hostile.URL, "http://"))
			r := scrapeOnce(t, s)
			require.Empty(t, r.series("m"), "nothing of the failed scrape")
			lastError := s.Targets()[0].Health().LastError
			require.Contains(t, lastError, boundText)
			require.NotContains(t, lastError, "panic")
		})
	}
}

// A protobuf family may hold an unknown field of the deprecated group wire types (3 and 4), which the
// parser skips: the bound's walk must skip it too, not stop there and leave the family's metrics unchecked
// for the parser to encode (a value of 17 MiB panicked, one of 16 MiB came back as forged labels).
func TestProtobufGroupFieldDoesNotHideALabel(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value string
	}{{"17 MiB", hostileLabel}, {"16 MiB", strings.Repeat(forgingValue(t), 16)}} {
		t.Run(tc.name, func(t *testing.T) {
			plain := protobufBody(t, tc.value)
			size, n := binary.Uvarint(plain)
			family := plain[n : n+int(size)]
			// Field 15 as a start group, then its end group, before the family's fields.
			withGroup := append([]byte{15<<3 | 3, 15<<3 | 4}, family...)
			body := binary.AppendUvarint(nil, uint64(len(withGroup)))
			body = append(body, withGroup...)
			hostile, _ := serve(t, protobufType, body, false)
			s := newScraper(t, valid(), strings.TrimPrefix(hostile.URL, "http://"))
			r := scrapeOnce(t, s)
			require.Empty(t, r.series("m"), "nothing of the failed scrape")
			lastError := s.Targets()[0].Health().LastError
			require.Contains(t, lastError, boundText)
			require.NotContains(t, lastError, "panic")
		})
	}
}

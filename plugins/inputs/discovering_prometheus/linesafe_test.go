package discovering_prometheus

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/plugins/parsers/influx"
	serializer "github.com/influxdata/telegraf/plugins/serializers/influx"
	"github.com/influxdata/telegraf/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protodelim"
	"google.golang.org/protobuf/proto"

	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

func TestSafeValue(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain", "plain"},
		{`C:\Program Files\x`, `C:\Program Files\x`},
		{`ends\`, "ends"},
		{`ends\\\`, "ends"},
		{`x\,db=attacker`, `x,db=attacker`},
		{`a\=b`, "a=b"},
		{`a\ b`, "a b"},
		{`a\\,b`, "a,b"},
		{`\`, ""},
		{`say \"hi\"`, `say "hi"`},
		{`tab\` + "\tx", `tab\` + "\tx"},
		{"vertical\vtab", `vertical\vtab`},
	} {
		t.Run(c.in, func(t *testing.T) { require.Equal(t, c.want, safeValue(c.in)) })
	}
}

func TestLineSafeNames(t *testing.T) {
	for _, c := range []struct {
		name     string
		in, want []string // name, value pairs
		err      string
	}{
		{name: "classic names stay", in: []string{"__name__", "up", "a:b", "1"}, want: []string{"__name__", "up", "a:b", "1"}},
		{name: "trailing backslash", in: []string{"__name__", "m", `db\`, "attacker"}, want: []string{"__name__", "m", "db_", "attacker"}},
		{name: "comma equals space", in: []string{"__name__", "m", `x\,db`, "1", "y=db", "2", "z db", "3"}, want: []string{"__name__", "m", "x__db", "1", "y_db", "2", "z_db", "3"}},
		{name: "metric name", in: []string{"__name__", `cpu\`}, want: []string{"__name__", "cpu_"}},
		{name: "dots and leading digit", in: []string{"__name__", "http.requests", "1st", "x"}, want: []string{"__name__", "http_requests", "_st", "x"}},
		{name: "look-alike stays distinct", in: []string{"__name__", "m", "\u0501b", "x", "db", "y"}, want: []string{"__name__", "m", "_b", "x", "db", "y"}},
		{name: "sorted after escaping", in: []string{"__name__", "m", "Z", "1", "\u00e4", "2"}, want: []string{"Z", "1", "_", "2", "__name__", "m"}},
		{name: "collision", in: []string{"__name__", "m", "a.b", "1", "a_b", "2"}, err: `"m": labels "a.b" and "a_b" are both written "a_b" in line protocol: invalid sample`},
	} {
		t.Run(c.name, func(t *testing.T) {
			sample := &scrape.Sample{Labels: sampleLabels(c.in...)}
			var ls lineSafe
			keep, err := ls.apply(sample)
			if c.err != "" {
				require.EqualError(t, err, c.err)
				require.False(t, keep)
				return
			}
			require.NoError(t, err)
			require.True(t, keep)
			var got []string
			for _, l := range sample.Labels {
				got = append(got, l.Name, l.Value)
			}
			require.Equal(t, c.want, got)
		})
	}
}

// hostileText is every quoted-name and escaped-value trick against line protocol that the text format can
// carry: names that end in a backslash, hold a comma, an equals sign or a space, values that end in a
// backslash or put one before a separator, a metric name that ends in one, and a look-alike of db.
const hostileText = `hijack{"db\\"="attacker","rp\\"="evil"} 1
spoof{"instance\\"="evil:1","url\\"="http://evil/","job\\"="evil","__name__\\"="evil"} 2
names{"x\\,db"="attacker","y=db"="attacker","z db"="attacker","db\\ "="attacker"} 3
values{a="x\\",b="y\\,db=attacker",c="\\\\",d="z\\=rp\\ evil"} 4
{"name\\"} 5
{"name\\",db="attacker",rp="evil"} 6
lookalike{"\u0501b"="attacker"} 7
# TYPE "family\\" summary
{"family\\",quantile="0.5"} 1
{"family\\_sum"} 1
{"family\\_count"} 1
`

// hostileProtobuf is the same in the protobuf format, where names are free strings.
func hostileProtobuf(t *testing.T) []byte {
	var buf bytes.Buffer
	untyped := dto.MetricType_UNTYPED
	family := func(name string, pairs ...string) {
		var ls []*dto.LabelPair
		for i := 0; i < len(pairs); i += 2 {
			ls = append(ls, &dto.LabelPair{Name: proto.String(pairs[i]), Value: proto.String(pairs[i+1])})
		}
		mf := &dto.MetricFamily{Name: proto.String(name), Type: &untyped, Metric: []*dto.Metric{{Label: ls, Untyped: &dto.Untyped{Value: proto.Float64(1)}}}}
		_, err := protodelim.MarshalTo(&buf, mf)
		require.NoError(t, err)
	}
	family("hijack", `db\`, "attacker", `rp\`, "evil")
	family("spoof", `instance\`, "evil:1", `url\`, "http://evil/", "db\n", "attacker", "rp\t", "evil")
	family("names", `x\,db`, "attacker", "y=db", "attacker", "z db", "attacker", `db\ `, "attacker")
	family("values", "a", `x\`, "b", `y\,db=attacker`, "c", `\\`)
	family(`name\`, "db", "attacker")
	family("lookalike", "\u0501b", "attacker")
	return buf.Bytes()
}

// No exposed label decides where a point lands: in every exposition format, metric format and honor-labels
// setting, each point that Telegraf's influx parser reads back from what Telegraf's serializer (or the
// runner's direct line protocol) wrote is the metric the plugin made, with the scraper's db and rp, the
// target's instance, and every tag key once.
func TestExposedLabelsCannotReroute(t *testing.T) {
	expositions := []struct {
		name, contentType string
		body              []byte
	}{
		{"text", "text/plain; version=0.0.4", []byte(hostileText)},
		{"openmetrics", "application/openmetrics-text; version=1.0.0", []byte(hostileText + "# EOF\n")},
		{"protobuf", "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited", hostileProtobuf(t)},
	}
	for _, e := range expositions {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", e.contentType)
			_, _ = w.Write(e.body)
		}))
		t.Cleanup(srv.Close)
		addr := strings.TrimPrefix(srv.URL, "http://")
		for _, format := range formatNames() {
			for _, honor := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/honor-labels=%v", e.name, format, honor), func(t *testing.T) {
					conf := strings.Replace(scraperConf(fmt.Sprintf("    honor-labels = %v", honor), ""), "localhost:9100", addr, 1)
					conf = strings.Replace(conf, "[[inputs.discovering_prometheus]]", "[[inputs.discovering_prometheus]]\n  metric_format = \""+format+"\"", 1)
					p := mustLoad(t, conf)
					require.NoError(t, p.Init())
					acc := &testutil.Accumulator{}
					require.NoError(t, p.Start(acc))
					defer p.Stop()
					require.NoError(t, p.Gather(acc))
					metrics := acc.GetTelegrafMetrics()
					requireUp(t, metrics, format)

					s := &serializer.Serializer{}
					require.NoError(t, s.Init())
					var lines bytes.Buffer
					for _, m := range metrics {
						requireRouted(t, m, addr, format)
						b, err := s.Serialize(m)
						require.NoError(t, err)
						lines.Write(b)
					}
					parsed := parseInflux(t, lines.Bytes())
					require.Len(t, parsed, len(metrics))
					for i, m := range parsed {
						requireRouted(t, m, addr, format)
						testutil.RequireMetricEqual(t, metrics[i], m, testutil.IgnoreType())
					}
					if format == "kapacitor" {
						// The runner's own line protocol, parsed likewise.
						var direct bytes.Buffer
						p.gatherLineProtocolAt(&direct, time.Now().Add(time.Hour))
						parsed := parseInflux(t, direct.Bytes())
						require.Len(t, parsed, len(metrics))
						for _, m := range parsed {
							requireRouted(t, m, addr, format)
						}
					}
				})
			}
		}
	}
}

// requireUp checks that the hostile scrape succeeded, so that its samples were there to check.
func requireUp(t *testing.T, ms []telegraf.Metric, format string) {
	t.Helper()
	for _, m := range ms {
		v, ok := m.GetField("up")
		if format == "kapacitor" || format == "prometheus-v1" {
			if m.Name() != "up" {
				continue
			}
			v, ok = m.GetField("value")
			if format == "prometheus-v1" {
				v, ok = m.GetField("gauge")
			}
		}
		if ok {
			require.EqualValues(t, 1, v, "up")
			return
		}
	}
	t.Fatalf("no up in %v", ms)
}

// requireRouted checks a point's routing and identity tags, and that its tag keys are unique.
func requireRouted(t *testing.T, m telegraf.Metric, addr, format string) {
	t.Helper()
	tags := m.Tags()
	require.Len(t, tags, len(m.TagList()), "tag keys of %v are unique", m)
	require.Equal(t, "db", tags["db"], "db of %v", m)
	require.Equal(t, "rp", tags["rp"], "rp of %v", m)
	if format == "kapacitor" {
		require.Equal(t, addr, tags["instance"], "instance of %v", m)
	} else {
		require.Equal(t, "http://"+addr+"/metrics", tags["url"], "url of %v", m)
		require.NotContains(t, tags, "instance", "instance of %v", m)
	}
	require.NotContains(t, tags, "job")
	for k, v := range tags {
		require.NotContains(t, k, `\`, "tag key of %v", m)
		if k == "db" || k == "rp" {
			continue
		}
		if v == "attacker" || v == "evil" {
			require.NotContains(t, []string{"db", "rp", "instance", "url"}, k)
		}
	}
}

// parseInflux reads line protocol with Telegraf's influx parser, inputs.execd's default.
func parseInflux(t *testing.T, lines []byte) []telegraf.Metric {
	t.Helper()
	parser := &influx.Parser{}
	require.NoError(t, parser.Init())
	ms, err := parser.Parse(lines)
	require.NoError(t, err, "%s", lines)
	return ms
}

// A sample whose timestamp nanoseconds cannot hold in 64 bits is dropped, not written wrapped around to
// another century; the rest of the scrape stands.
func TestTimestampsBeyondLineProtocolAreDropped(t *testing.T) {
	for ms, keep := range map[int64]bool{minMillis - 1: false, minMillis: true, 0: true, maxMillis: true, maxMillis + 1: false} {
		t.Run(fmt.Sprintf("%d ms", ms), func(t *testing.T) {
			var ls lineSafe
			got, err := ls.apply(&scrape.Sample{Labels: sampleLabels("__name__", "m"), Timestamp: ms})
			require.NoError(t, err)
			require.Equal(t, keep, got, "%d ms", ms)
		})
	}

	// The text format has no negative timestamps: the end of the range shows.
	body := fmt.Sprintf("late 1 %d\nlast 1 %d\n", maxMillis+1, maxMillis)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, body) }))
	defer srv.Close()
	p := mustLoad(t, strings.Replace(scraperConf("", ""), "localhost:9100", strings.TrimPrefix(srv.URL, "http://"), 1))
	require.NoError(t, p.Init())
	acc := &testutil.Accumulator{}
	require.NoError(t, p.Start(acc))
	defer p.Stop()
	require.NoError(t, p.Gather(acc))
	require.False(t, acc.HasMeasurement("late"))
	m, ok := acc.Get("last")
	require.True(t, ok)
	require.Equal(t, time.UnixMilli(maxMillis), m.Time)
	up, _ := acc.Get("up")
	require.EqualValues(t, 1, up.Fields["value"])

	var direct bytes.Buffer
	p.gatherLineProtocolAt(&direct, time.Now().Add(time.Hour))
	times := map[string]time.Time{}
	for _, m := range parseInflux(t, direct.Bytes()) {
		times[m.Name()] = m.Time()
	}
	require.NotContains(t, times, "late")
	require.Equal(t, time.UnixMilli(maxMillis), times["last"])
}

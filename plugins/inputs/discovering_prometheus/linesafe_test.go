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

// gatherBody serves body with contentType to a plugin of one metric format and honor-labels setting, with
// extra scraper TOML, and returns the metrics and, for kapacitor, the runner's direct line protocol.
func gatherBody(t *testing.T, body []byte, contentType, format string, honor bool, extra string, disc ...string) ([]telegraf.Metric, []byte, string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	conf := strings.Replace(scraperConf(fmt.Sprintf("    honor-labels = %v\n%s", honor, extra), strings.Join(disc, "")), "localhost:9100", addr, 1)
	conf = strings.Replace(conf, "[[inputs.discovering_prometheus]]", "[[inputs.discovering_prometheus]]\n  metric_format = \""+format+"\"", 1)
	p := mustLoad(t, conf)
	require.NoError(t, p.Init())
	acc := &testutil.Accumulator{}
	require.NoError(t, p.Start(acc))
	t.Cleanup(p.Stop)
	require.NoError(t, p.Gather(acc))
	var direct bytes.Buffer
	if format == "kapacitor" {
		p.gatherLineProtocolAt(&direct, time.Now().Add(time.Hour))
	}
	return acc.GetTelegrafMetrics(), direct.Bytes(), addr
}

func serializeAll(t *testing.T, ms []telegraf.Metric) []byte {
	t.Helper()
	s := &serializer.Serializer{}
	require.NoError(t, s.Init())
	var out bytes.Buffer
	for _, m := range ms {
		b, err := s.Serialize(m)
		if err != nil {
			continue
		}
		out.Write(b)
	}
	return out.Bytes()
}

// influx1Tags splits a line as InfluxDB 1.x's scanner does (a backslash escapes the next byte, whatever it
// is) and returns the tag keys in order, unescaped as InfluxDB 1.x unescapes them.
func influx1Tags(line string) (measurement string, keys, values []string) {
	unesc := strings.NewReplacer(`\,`, `,`, `\ `, ` `, `\=`, `=`)
	i := 0
	start := 0
	for i < len(line) && line[i] != ',' && line[i] != ' ' {
		if line[i] == '\\' {
			i++
		}
		i++
	}
	measurement = line[start:min(i, len(line))]
	for i < len(line) && line[i] == ',' {
		i++
		ks := i
		for i < len(line) && line[i] != '=' && line[i] != ',' && line[i] != ' ' {
			if line[i] == '\\' {
				i++
			}
			i++
		}
		key := line[ks:min(i, len(line))]
		if i < len(line) && line[i] == '=' {
			i++
		}
		vs := i
		for i < len(line) && line[i] != ',' && line[i] != ' ' {
			if line[i] == '\\' {
				i++
			}
			i++
		}
		keys = append(keys, unesc.Replace(key))
		values = append(values, unesc.Replace(line[vs:min(i, len(line))]))
	}
	return measurement, keys, values
}

// checkLines reads lines with Telegraf's parser, the upstream parser and InfluxDB 1.x's scanner and
// reports every point that is lost, rerouted or has a tag key twice.
func checkLines(t *testing.T, lines []byte, want int) (problems []string) {
	t.Helper()
	p := &influx.Parser{}
	require.NoError(t, p.Init())
	got := 0
	for _, line := range bytes.SplitAfter(lines, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		got++
		ms, err := p.Parse(line)
		if err != nil || len(ms) != 1 {
			problems = append(problems, fmt.Sprintf("telegraf parser: %q: %v %v", line, ms, err))
		} else {
			m := ms[0]
			if db, _ := m.GetTag("db"); db != "db" {
				problems = append(problems, fmt.Sprintf("telegraf parser: %q: db %q", line, db))
			}
			if rp, _ := m.GetTag("rp"); rp != "rp" {
				problems = append(problems, fmt.Sprintf("telegraf parser: %q: rp %q", line, rp))
			}
		}
		_, keys, values := influx1Tags(string(line))
		seen := map[string]bool{}
		for i, k := range keys {
			if seen[k] {
				problems = append(problems, fmt.Sprintf("influxdb1: %q: tag key %q twice", line, k))
			}
			seen[k] = true
			if (k == "db" && values[i] != "db") || (k == "rp" && values[i] != "rp") {
				problems = append(problems, fmt.Sprintf("influxdb1: %q: %s=%q", line, k, values[i]))
			}
		}
		if !seen["db"] || !seen["rp"] {
			problems = append(problems, fmt.Sprintf("influxdb1: %q: no db or rp", line))
		}
	}
	if want >= 0 && got != want {
		problems = append(problems, fmt.Sprintf("%d lines for %d metrics", got, want))
	}
	return problems
}

// Discovery-controlled target labels (instance, __param_x, __metrics_path__, and a label named by a value)
// full of separators, backslashes and control characters: every point still reads back with the scraper's
// db and rp, each tag key once, in Telegraf's parser and in InfluxDB 1.x's scanner.
func TestTargetLabelsCannotReroute(t *testing.T) {
	evil := "a\\\\ b\\\\,db=evil\\\\=rp=x\\\\\\\"q\\\"\\t\\n\\r\\f\\u2028\\\\"
	relabels := `
  [[inputs.discovering_prometheus.scraper.relabel-configs]]
    source-labels = ["meta"]
    target-label = "instance"
  [[inputs.discovering_prometheus.scraper.relabel-configs]]
    source-labels = ["meta"]
    target-label = "__param_x"
  [[inputs.discovering_prometheus.scraper.relabel-configs]]
    source-labels = ["meta"]
    target-label = "__metrics_path__"
    replacement = "/m$1"
  [[inputs.discovering_prometheus.scraper.relabel-configs]]
    source-labels = ["meta"]
    target-label = "${1}"
    regex = "(.*)"
`
	disc := "    [inputs.discovering_prometheus.static-discovery.labels]\n      meta = \"" + evil + "\"\n"
	bodies := []struct{ name, ct, body string }{
		{"text", "text/plain; version=0.0.4", "m{instance=\"scraped\",exported_instance=\"e\"} 1\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n"},
		{"scheme-fail", "text/plain; version=0.0.4", "garbage{\n"},
	}
	for _, b := range bodies {
		for _, format := range formatNames() {
			for _, honor := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/%v", b.name, format, honor), func(t *testing.T) {
					ms, direct, _ := gatherBody(t, []byte(b.body), b.ct, format, honor, relabels, disc)
					lines := serializeAll(t, ms)
					require.Empty(t, checkLines(t, lines, len(ms)))
					require.Empty(t, checkLines(t, direct, -1))
				})
			}
		}
	}
}

// A label value with a vertical tab: Telegraf's influx serializer (and the runner's direct line protocol,
// byte for byte the same) would write \v raw, as it escapes only \t \n \f \r, space, comma and equals sign,
// and Telegraf's influx parser (inputs.execd's default) reads \v as whitespace, ending the tag set, and
// refuses the line. Every point of such a series still reads back, through both writers.
func TestVerticalTabReadsBack(t *testing.T) {
	for _, format := range formatNames() {
		t.Run(format, func(t *testing.T) {
			ms, direct, addr := gatherBody(t, []byte("m{a=\"x\vy\"} 1\n"), "text/plain; version=0.0.4", format, false, "")
			requireUp(t, ms, format)
			s := &serializer.Serializer{}
			require.NoError(t, s.Init())
			for _, m := range ms {
				requireRouted(t, m, addr, format)
				line, err := s.Serialize(m)
				require.NoError(t, err)
				parser := &influx.Parser{}
				require.NoError(t, parser.Init())
				back, err := parser.Parse(line)
				require.NoError(t, err, "Telegraf's parser refuses %q", line)
				require.Len(t, back, 1)
			}
			if format == "kapacitor" {
				parser := &influx.Parser{}
				require.NoError(t, parser.Init())
				_, err := parser.Parse(direct)
				require.NoError(t, err, "Telegraf's parser refuses the runner's %q", direct)
			}
		})
	}
}

// In the prometheus formats the target's instance and job are left out, and a scraped instance that the
// target's displaced (exported_instance) gets its name back, also for a target instance that line safety
// changes: one with a backslash before a space, comma, equals sign or quote (discovery controls it:
// __address__, or a relabel rule from a pod annotation). Compared as it is with the sample's instance,
// made safe, it would never match, and be written as a tag on every point; the target's job likewise.
func TestTargetInstanceWithBackslashIsLeftOutInPromFormats(t *testing.T) {
	disc := "    [inputs.discovering_prometheus.static-discovery.labels]\n      instance = 'a\\ b'\n      job = 'j\\,ob'\n"
	for _, format := range []string{"prometheus-v1", "prometheus-v2"} {
		t.Run(format, func(t *testing.T) {
			ms, _, _ := gatherBody(t, []byte("m{instance=\"scraped\"} 1\n"), "text/plain; version=0.0.4", format, false, "", disc)
			requireUp(t, ms, format)
			found := false
			for _, m := range ms {
				tags := m.Tags()
				require.NotContains(t, tags, "job", "the target's job is left out: %v", m)
				isM := m.Name() == "m"
				if format == "prometheus-v2" {
					_, isM = m.GetField("m")
				}
				if isM {
					found = true
					require.Equal(t, "scraped", tags["instance"], "the scraped instance, restored: %v", m)
					continue
				}
				require.NotContains(t, tags, "instance", "the target's instance is left out: %v", m)
			}
			require.True(t, found)
		})
	}
}

// Protobuf label values with NUL, DEL, C0 controls and Unicode line separators cannot reroute a point.
func TestProtobufControlsCannotReroute(t *testing.T) {
	var buf bytes.Buffer
	untyped, summary := dto.MetricType_UNTYPED, dto.MetricType_SUMMARY
	add := func(name string, typ *dto.MetricType, pairs ...string) {
		var ls []*dto.LabelPair
		for i := 0; i < len(pairs); i += 2 {
			ls = append(ls, &dto.LabelPair{Name: proto.String(pairs[i]), Value: proto.String(pairs[i+1])})
		}
		m := &dto.Metric{Label: ls}
		if *typ == dto.MetricType_SUMMARY {
			m.Summary = &dto.Summary{SampleCount: proto.Uint64(1), SampleSum: proto.Float64(1), Quantile: []*dto.Quantile{{Quantile: proto.Float64(0.5), Value: proto.Float64(1)}}}
		} else {
			m.Untyped = &dto.Untyped{Value: proto.Float64(1)}
		}
		mf := &dto.MetricFamily{Name: proto.String(name), Type: typ, Metric: []*dto.Metric{m}}
		_, err := protodelim.MarshalTo(&buf, mf)
		require.NoError(t, err)
	}
	add("nul", &untyped, "a", "x\x00y", "b", "\x7f\x01")
	add("s2", &summary, "a", "1", "b", "2")
	add("u", &untyped, "a", "x\u2028\u0085y")
	for _, format := range formatNames() {
		for _, honor := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/%v", format, honor), func(t *testing.T) {
				ms, direct, _ := gatherBody(t, buf.Bytes(), "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited", format, honor, "")
				lines := serializeAll(t, ms)
				require.Empty(t, checkLines(t, lines, len(ms)))
				require.Empty(t, checkLines(t, direct, -1))
			})
		}
	}
}

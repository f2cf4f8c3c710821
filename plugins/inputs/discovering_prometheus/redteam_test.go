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
)

// redteamGather serves body with contentType to a plugin of one metric format and honor-labels setting, with
// extra scraper TOML, and returns the metrics and, for kapacitor, the runner's direct line protocol.
func redteamGather(t *testing.T, body []byte, contentType, format string, honor bool, extra string, disc ...string) ([]telegraf.Metric, []byte, string) {
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
// db and rp, each tag key once, in Telegraf's parser and in InfluxDB 1.x's scanner. (Passes.)
func TestRedteamTargetLabelsKeepRouting(t *testing.T) {
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
					ms, direct, _ := redteamGather(t, []byte(b.body), b.ct, format, honor, relabels, disc)
					lines := serializeAll(t, ms)
					require.Empty(t, checkLines(t, lines, len(ms)))
					require.Empty(t, checkLines(t, direct, -1))
				})
			}
		}
	}
}

// A label value with a vertical tab: Telegraf's influx serializer (and the runner's direct line protocol,
// byte for byte the same) writes \v raw, as it escapes only \t \n \f \r, space, comma and equals sign; but
// Telegraf's influx parser (inputs.execd's default) reads \v as whitespace, ending the tag set, and refuses
// the line. Every point of such a series is lost on the way through inputs.execd, though the plugin claims
// that each point reads back.
func TestRedteamVerticalTabLosesPoint(t *testing.T) {
	for _, format := range formatNames() {
		t.Run(format, func(t *testing.T) {
			ms, direct, addr := redteamGather(t, []byte("m{a=\"x\vy\"} 1\n"), "text/plain; version=0.0.4", format, false, "")
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
// target's displaced (exported_instance) gets its name back. appendTags recognises the target's instance by
// comparing the sample's instance, which lineSafe has just made safe, with the target's label as it is: a
// target instance with a backslash before a space, comma, equals sign or quote (discovery controls it:
// __address__, or a relabel rule from a pod annotation) never matches. The target's instance is then
// written as a tag on every point, and on a point that had its own instance it replaces the restored one.
// The target's job likewise becomes a job tag on every point.
func TestRedteamTargetInstanceWithBackslashLeaksInPromFormats(t *testing.T) {
	disc := "    [inputs.discovering_prometheus.static-discovery.labels]\n      instance = 'a\\ b'\n      job = 'j\\,ob'\n"
	for _, format := range []string{"prometheus-v1", "prometheus-v2"} {
		t.Run(format, func(t *testing.T) {
			ms, _, _ := redteamGather(t, []byte("m{instance=\"scraped\"} 1\n"), "text/plain; version=0.0.4", format, false, "", disc)
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

// Protobuf label values with NUL, DEL, C0 controls and Unicode line separators. (Passes.)
func TestRedteamProtobufControlsKeepRouting(t *testing.T) {
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
				ms, direct, _ := redteamGather(t, buf.Bytes(), "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited", format, honor, "")
				lines := serializeAll(t, ms)
				require.Empty(t, checkLines(t, lines, len(ms)))
				require.Empty(t, checkLines(t, direct, -1))
			})
		}
	}
}

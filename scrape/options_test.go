package scrape

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/influxdata/telegraf/config"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/stretchr/testify/require"
)

func ptr[T any](v T) *T { return &v }

func TestRelabelConfigs(t *testing.T) {
	c := valid()
	c.RelabelConfigs = []*Relabel{
		{SourceLabels: []string{"__meta_role"}, Regex: ptr("db"), Action: "drop"},
		{SourceLabels: []string{"__meta_role"}, TargetLabel: "role"},
		{SourceLabels: []string{"__address__"}, Regex: ptr("(.*):.*"), TargetLabel: "host", Replacement: ptr("$1")},
	}
	require.NoError(t, c.Init())
	s, err := New(c, nil, discard)
	require.NoError(t, err)
	require.Empty(t, s.Sync([]*targetgroup.Group{{Source: "g", Targets: []model.LabelSet{
		{model.AddressLabel: "web:1", "__meta_role": "web"},
		{model.AddressLabel: "db:1", "__meta_role": "db"},
	}}}))
	require.Len(t, s.Targets(), 1)
	require.Equal(t, `{host="web", instance="web:1", job="node", role="web"}`, s.Targets()[0].Labels.String())
	dropped := s.Dropped()
	require.Len(t, dropped, 1)
	require.Equal(t, "db:1", dropped[0].Discovered.Get(model.AddressLabel))
	require.Equal(t, 0, dropped[0].Rule)
}

// A Prometheus job's rules apply before the Config's relabel-configs, and Dropped.Rule counts them first.
func TestJobRulesComeFirst(t *testing.T) {
	c := valid()
	c.RelabelConfigs = []*Relabel{{SourceLabels: []string{"__meta_role"}, Regex: ptr("db"), Action: "drop"}}
	require.NoError(t, c.Init())
	jobRules, err := relabelConfigs("relabel_configs", []*Relabel{{SourceLabels: []string{"__meta_role"}, Regex: ptr("cache"), Action: "drop"}})
	require.NoError(t, err)
	s, err := New(c, &JobExtras{Relabel: jobRules}, discard)
	require.NoError(t, err)
	require.Equal(t, append(slices.Clone(jobRules), c.relabel...), s.TargetRelabeling())
	require.Len(t, c.relabel, 1, "the Config keeps its own rules only")
	require.Empty(t, s.Sync([]*targetgroup.Group{{Source: "g", Targets: []model.LabelSet{
		{model.AddressLabel: "web:1", "__meta_role": "web"},
		{model.AddressLabel: "db:1", "__meta_role": "db"},
		{model.AddressLabel: "cache:1", "__meta_role": "cache"},
	}}}))
	require.Len(t, s.Targets(), 1)
	rules := map[string]int{}
	for _, d := range s.Dropped() {
		rules[d.Discovered.Get(model.AddressLabel)] = d.Rule
	}
	require.Equal(t, map[string]int{"cache:1": 0, "db:1": 1}, rules)
}

func TestRelabelConfigErrorsNameTheRule(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(c *Config)
		want   string
	}{
		{"unknown action", func(c *Config) { c.RelabelConfigs = []*Relabel{{Action: "rename"}} },
			`relabel-configs[0]: action: "rename" is not a relabel action`},
		{"bad regex", func(c *Config) { c.RelabelConfigs = []*Relabel{{Regex: ptr("(")}} }, "relabel-configs[0]: regex:"},
		{"hashmod without modulus", func(c *Config) { c.RelabelConfigs = []*Relabel{{Action: "hashmod", TargetLabel: "x"}} },
			"relabel-configs[0]: relabel configuration for hashmod requires non-zero modulus"},
		{"replace without target", func(c *Config) { c.RelabelConfigs = []*Relabel{{Action: "replace"}} },
			"relabel-configs[0]: relabel configuration for replace action requires 'target_label' value"},
		{"metric rule with a bad regex", func(c *Config) { c.MetricRelabelConfigs = []*Relabel{{Action: "drop", Regex: ptr("[")}} },
			"metric-relabel-configs[0]: regex:"},
		{"negative sample limit", func(c *Config) { c.SampleLimit = -1 }, "sample-limit: -1 is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.change(c)
			require.ErrorContains(t, c.Init(), tc.want)
		})
	}
}

const optionsBody = `# TYPE kept counter
kept_total{instance="from-target",secret="s"} 1 1000
dropped_metric 2
other 3
`

func TestMetricRelabelHonorLabelsAndTimestamps(t *testing.T) {
	srv, _ := serve(t, "text/plain", []byte(optionsBody), false)
	addr := strings.TrimPrefix(srv.URL, "http://")

	c := valid()
	c.HonorLabels = true
	c.HonorTimestamps = ptr(false)
	c.MetricRelabelConfigs = []*Relabel{
		{SourceLabels: []string{"__name__"}, Regex: ptr("dropped_.*"), Action: "drop"},
		{Regex: ptr("secret"), Action: "labeldrop"},
	}
	r := scrapeOnce(t, newScraper(t, c, addr))
	// honor-labels: the scraped instance wins and nothing is renamed exported_.
	require.Equal(t, []string{`{__name__="kept_total", env="test", instance="from-target", job="node"} 1`}, r.series("kept_total"))
	require.Empty(t, r.series("dropped_metric"))
	require.Len(t, r.series("other"), 1)
	// honor-timestamps = false: the scrape time, not the exposed 1000.
	for _, s := range r.flushed {
		require.False(t, strings.HasSuffix(s, "@1000"), s)
	}
	require.Equal(t, []string{`{__name__="scrape_samples_scraped", env="test", instance="` + addr + `", job="node"} 3`}, r.series("scrape_samples_scraped"))
	require.Equal(t, []string{`{__name__="scrape_samples_post_metric_relabeling", env="test", instance="` + addr + `", job="node"} 2`}, r.series("scrape_samples_post_metric_relabeling"))
}

func TestLimitsFailTheScrape(t *testing.T) {
	srv, _ := serve(t, "text/plain", []byte(optionsBody), false)
	addr := strings.TrimPrefix(srv.URL, "http://")
	for _, tc := range []struct {
		name string
		set  func(*Config)
		want string
	}{
		{"sample-limit", func(c *Config) { c.SampleLimit = 2 }, "sample limit of 2 exceeded"},
		{"label-limit", func(c *Config) { c.LabelLimit = 4 }, `label limit of 4 exceeded by "kept_total" (6 labels)`},
		{"label-name-length-limit", func(c *Config) { c.LabelNameLengthLimit = 8 }, `label name length limit of 8 exceeded by "kept_total" label "exported_instance"`},
		{"label-value-length-limit", func(c *Config) { c.LabelValueLengthLimit = 10 }, `label value length limit of 10 exceeded by "kept_total" label`},
		{"body-size-limit", func(c *Config) { c.BodySizeLimit = config.Size(20) }, "body size limit of 20 bytes exceeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.set(c)
			s := newScraper(t, c, addr)
			r := scrapeOnce(t, s)
			require.Equal(t, []string{`{__name__="up", env="test", instance="` + addr + `", job="node"} 0`}, r.series("up"))
			require.Empty(t, r.series("other"), "a failed scrape keeps no sample")
			require.Contains(t, s.Targets()[0].Health().LastError, tc.want)
		})
	}
}

// Empty values and names exposed twice end as in Prometheus' mutateSampleLabels and storage: a name exposed
// with an empty value is dropped with all its values, yet counts as exposed for honor-labels; a name left
// twice after metric relabeling fails the scrape, one that relabeling drops does not. Each case runs in
// the merge without relabeling and, with a rule that changes nothing, through labels.Builder.
func TestSampleLabelsAsPrometheus(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		honor      bool
		labeldrop  string // a metric relabeling labeldrop rule, when set
		want       string // the sample, with {addr} for the target's address
	}{
		{"honor keeps an exposed empty instance", `m{instance=""} 1`, true, "",
			`{__name__="m", env="test", job="node"} 1`},
		{"without honor the target's instance", `m{instance=""} 1`, false, "",
			`{__name__="m", env="test", instance="{addr}", job="node"} 1`},
		{"a name twice, one value empty", `x{a="",a="1"} 1`, false, "",
			`{__name__="x", env="test", instance="{addr}", job="node"} 1`},
		{"a name twice, one value empty, honor", `x{a="",a="1"} 1`, true, "",
			`{__name__="x", env="test", instance="{addr}", job="node"} 1`},
		{"a target label, first exposed empty", `e{env="",env="x"} 1`, false, "",
			`{__name__="e", env="test", instance="{addr}", job="node"} 1`},
		{"a target label, first exposed set", `e{env="x",env=""} 1`, false, "",
			`{__name__="e", env="test", exported_env="x", instance="{addr}", job="node"} 1`},
		{"a name twice that labeldrop drops", `y{b="1",b="2",c="3"} 1`, false, "b",
			`{__name__="y", c="3", env="test", instance="{addr}", job="node"} 1`},
	} {
		for _, builder := range []bool{false, true} {
			if tc.labeldrop != "" && !builder {
				continue
			}
			t.Run(fmt.Sprintf("%s/builder=%t", tc.name, builder), func(t *testing.T) {
				srv, _ := serve(t, "text/plain; version=0.0.4", []byte(tc.body+"\n"), false)
				addr := strings.TrimPrefix(srv.URL, "http://")
				c := valid()
				c.HonorLabels = tc.honor
				if builder {
					c.MetricRelabelConfigs = []*Relabel{{Regex: ptr("never_exposed"), Action: "labeldrop"}}
				}
				if tc.labeldrop != "" {
					c.MetricRelabelConfigs = []*Relabel{{Regex: ptr(tc.labeldrop), Action: "labeldrop"}}
				}
				s := newScraper(t, c, addr)
				r := scrapeOnce(t, s)
				require.Empty(t, s.Targets()[0].Health().LastError)
				name := tc.body[:strings.IndexByte(tc.body, '{')]
				require.Equal(t, []string{strings.ReplaceAll(tc.want, "{addr}", addr)}, r.series(name))
			})
		}
	}
}

// A series with a label name twice fails the scrape, as it fails in Prometheus (its storage refuses the
// sample), whichever reader parses the body.
func TestDuplicateLabelNamesFailTheScrape(t *testing.T) {
	for _, tc := range []struct{ contentType, body string }{
		{"text/plain; version=0.0.4", "ok 1\nm{a=\"1\",b=\"x\",a=\"2\"} 1\n"},
		{"application/openmetrics-text; version=1.0.0", "ok 1\nm{a=\"1\",b=\"x\",a=\"2\"} 1\n# EOF\n"},
	} {
		t.Run(tc.contentType, func(t *testing.T) {
			srv, _ := serve(t, tc.contentType, []byte(tc.body), false)
			addr := strings.TrimPrefix(srv.URL, "http://")
			s := newScraper(t, valid(), addr)
			r := scrapeOnce(t, s)
			require.Equal(t, []string{`{__name__="up", env="test", instance="` + addr + `", job="node"} 0`}, r.series("up"))
			require.Empty(t, r.series("ok"), "a failed scrape keeps no sample")
			require.Equal(t, `line at byte offset 5: "m": label name "a" is not unique: invalid sample`, s.Targets()[0].Health().LastError)
			// As Prometheus reports a failed scrape: the samples read, and those taken before the failure.
			require.Equal(t, []string{`{__name__="scrape_samples_scraped", env="test", instance="` + addr + `", job="node"} 2`}, r.series("scrape_samples_scraped"))
			require.Equal(t, []string{`{__name__="scrape_samples_post_metric_relabeling", env="test", instance="` + addr + `", job="node"} 1`}, r.series("scrape_samples_post_metric_relabeling"))
		})
	}
}

// A series without a metric name, or with a name that is not UTF-8 or an empty label name, fails the
// scrape as it fails in Prometheus.
func TestInvalidNamesFailTheScrape(t *testing.T) {
	const utf8Text = "text/plain; version=1.0.0; escaping=allow-utf-8"
	dropName := &Relabel{Action: "labeldrop", Regex: ptr("__name__")}
	for _, tc := range []struct {
		name, contentType, body string
		relabel                 *Relabel
		want                    string
	}{
		{"empty metric name", utf8Text, "ok 1\n{\"\",a=\"b\"} 4\n", nil, "missing metric name (__name__ label)"},
		{"metric name dropped by relabeling", "text/plain", "ok 1\n", dropName, "missing metric name (__name__ label)"},
		{"empty label name", utf8Text, "ok 1\n{\"m\",\"\"=\"x\"} 4\n", nil, `invalid metric name or label names: {""="x", __name__="m"`},
		{"label name not UTF-8", utf8Text, "ok 1\n{\"m\",\"a\xff\"=\"x\"} 4\n", nil, "invalid metric name or label names: {__name__=\"m\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, _ := serve(t, tc.contentType, []byte(tc.body), false)
			addr := strings.TrimPrefix(srv.URL, "http://")
			c := valid()
			if tc.relabel != nil {
				c.MetricRelabelConfigs = []*Relabel{tc.relabel}
			}
			s := newScraper(t, c, addr)
			r := scrapeOnce(t, s)
			require.Equal(t, []string{`{__name__="up", env="test", instance="` + addr + `", job="node"} 0`}, r.series("up"))
			require.Empty(t, r.series("ok"), "a failed scrape keeps no sample")
			require.Contains(t, s.Targets()[0].Health().LastError, tc.want)
		})
	}
}

func TestBodySizeLimitStopsAGzipBomb(t *testing.T) {
	// 256 MiB of 'a' in a few hundred KiB: one gzip member of 1 MiB, 256 times (a gzip stream may hold many
	// members, inflated as one body). Compressing 256 MiB instead takes seconds, and minutes under -race.
	var member, bomb bytes.Buffer
	zw := gzip.NewWriter(&member)
	_, _ = zw.Write([]byte(strings.Repeat("a", 1<<20)))
	require.NoError(t, zw.Close())
	for range 256 {
		bomb.Write(member.Bytes())
	}
	srv, _ := serve(t, "text/plain", bomb.Bytes(), false)
	// serve sends the bytes as they are; mark them gzip so the scraper inflates them.
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(bomb.Bytes())
	})
	c := valid()
	c.BodySizeLimit = config.Size(1 << 20)
	s := newScraper(t, c, strings.TrimPrefix(srv.URL, "http://"))
	scrapeOnce(t, s)
	require.Contains(t, s.Targets()[0].Health().LastError, "body size limit of 1048576 bytes exceeded")
}

func TestRedirectsAndCompression(t *testing.T) {
	final, header := serve(t, "text/plain", []byte("m 1\n"), false)
	redirect := httptest.NewServer(http.RedirectHandler(final.URL+"/metrics", http.StatusFound))
	defer redirect.Close()
	addr := strings.TrimPrefix(redirect.URL, "http://")

	r := scrapeOnce(t, newScraper(t, valid(), addr))
	require.Len(t, r.series("m"), 1, "redirects are followed by default")
	require.Equal(t, "gzip", header.Get("Accept-Encoding"))

	c := valid()
	c.FollowRedirects = ptr(false)
	c.EnableCompression = ptr(false)
	s := newScraper(t, c, addr)
	r = scrapeOnce(t, s)
	require.Empty(t, r.series("m"))
	require.Equal(t, "server returned HTTP status 302 Found", s.Targets()[0].Health().LastError)

	c = valid()
	c.EnableCompression = ptr(false)
	scrapeOnce(t, newScraper(t, c, strings.TrimPrefix(final.URL, "http://")))
	require.Equal(t, "identity", header.Get("Accept-Encoding"))
}

// The merge that sampleLabels takes without metric relabeling allocates nothing, with empty values and
// names twice too, whether honor-labels is set or not.
func TestSampleLabelsMergeAllocatesNothing(t *testing.T) {
	c := valid()
	require.NoError(t, c.Init())
	s, err := New(c, nil, discard)
	require.NoError(t, err)
	tg, err := s.newTarget(model.LabelSet{model.AddressLabel: "h:1", "env": "test"}, nil)
	require.NoError(t, err)
	w := workers.Get().(*worker)
	defer workers.Put(w)
	w.parsed = append(w.parsed[:0], labels.Label{Name: "__name__", Value: "x"}, labels.Label{Name: "a", Value: ""},
		labels.Label{Name: "a", Value: "1"}, labels.Label{Name: "env", Value: ""}, labels.Label{Name: "instance", Value: ""})
	for _, honor := range []bool{false, true} {
		t.Run(fmt.Sprintf("honor-labels=%t", honor), func(t *testing.T) {
			c.HonorLabels = honor
			want := `{__name__="x", env="test", instance="h:1", job="node"}`
			if honor {
				want = `{__name__="x", job="node"}`
			}
			lset, keep, err := w.sampleLabels(tg, s)
			require.NoError(t, err)
			require.True(t, keep)
			require.Equal(t, want, lset.String())
			require.Zero(t, testing.AllocsPerRun(100, func() { w.sampleLabels(tg, s) }), "honor-labels %t", honor)
		})
	}
}

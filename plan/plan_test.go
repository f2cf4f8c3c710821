package plan

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/influxdata/telegraf/config"
	"github.com/stretchr/testify/require"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
	"github.com/discovering-prometheus/discovering-prometheus/kapacitor"
	"github.com/discovering-prometheus/discovering-prometheus/promconf"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

const kapacitorConf = `
[[scraper]]
  enabled = true
  name = "kapacitor"
  db = "d"
  rp = "r"
  discoverer-service = "static-discovery"
  discoverer-id = "own"

[[scraper]]
  enabled = true
  name = "unpaired"
  db = "d"
  rp = "r"
  discoverer-service = "static-discovery"
  discoverer-id = "nowhere"

[[static-discovery]]
  enabled = true
  id = "file"
  targets = ["localhost:9100"]
`

func section(name, discoverer string) *kapacitor.Scraper {
	return &kapacitor.Scraper{DB: "d", RP: "r", DiscovererService: "static-discovery", DiscovererID: discoverer, Config: scrape.Config{Name: name}}
}

func static(id string, enabled bool) *discovery.Static {
	return &discovery.Static{Common: discovery.Common{ID: id, Enabled: &enabled}, Targets: []string{"localhost:9101"}}
}

// kapacitor_config's sections run next to the plugin's own: its scrapers without a discoverer in either
// are left out with a warning, and the plan holds every job and discoverer, validated.
func TestBuildWithKapacitorConfig(t *testing.T) {
	path := writeFile(t, "kapacitor.conf", kapacitorConf)
	var warnings []string
	own := &discovery.Sections{Static: []*discovery.Static{static("own", true)}}
	settings := &Settings{
		Scrapers: []*kapacitor.Scraper{section("plugin", "file")}, Discoverers: own, KapacitorConfig: path,
		Warn: func(w ...any) { warnings = append(warnings, w[0].(string)) },
	}
	p, err := Build(settings)
	require.NoError(t, err)
	require.Equal(t, []string{path + `:10: [[scraper]] name "unpaired" is left out: its discoverer (static-discovery "nowhere") is enabled in neither this file nor the plugin's own sections, so Kapacitor scraped nothing for it`}, warnings)
	var names []string
	for _, job := range p.Jobs {
		names = append(names, job.Name())
	}
	require.Equal(t, []string{"plugin", "kapacitor"}, names)
	require.Equal(t, Origin{Option: "kapacitor_config", File: path, Line: 2}, p.Jobs[1].Origin)
	require.Equal(t, "/metrics", p.Jobs[0].Config.MetricsPath, "the plan holds the defaults")
	require.Empty(t, settings.Scrapers[0].MetricsPath, "validation leaves the settings as they are")
	require.Len(t, p.Discoverers, 2)
	require.Contains(t, p.Discoverers, discovery.Key{Service: "static-discovery", ID: "file"})
}

// Names and ids are unique across the plugin's sections and kapacitor_config's; errors name the file
// and the line, and come alone.
func TestBuildRefusesCollisions(t *testing.T) {
	path := writeFile(t, "kapacitor.conf", kapacitorConf)
	own := &discovery.Sections{Static: []*discovery.Static{static("file", true)}}
	_, err := Build(&Settings{Scrapers: []*kapacitor.Scraper{section("kapacitor", "file")}, Discoverers: own, KapacitorConfig: path})
	require.EqualError(t, err, strings.Join([]string{
		"kapacitor_config: " + path + `:2: scraper "kapacitor": name: also used by an [[inputs.discovering_prometheus.scraper]] section`,
		"kapacitor_config: " + path + `:18: static-discovery "file": id: also used by an [[inputs.discovering_prometheus.static-discovery]] section`,
	}, "\n"))
	var unreadable *UnreadableError
	require.ErrorAs(t, err, &unreadable)

	// Disabled sections collide with nothing.
	off := false
	disabled := section("kapacitor", "file")
	disabled.Enabled = &off
	_, err = Build(&Settings{Scrapers: []*kapacitor.Scraper{disabled, section("p", "own")}, KapacitorConfig: path,
		Discoverers: &discovery.Sections{Static: []*discovery.Static{static("file", false), static("own", true)}}})
	require.NoError(t, err)

	// The plugin's own collide with one another, among their other errors.
	_, err = Build(&Settings{Scrapers: []*kapacitor.Scraper{section("a", "s"), section("a", "s")},
		Discoverers: &discovery.Sections{Static: []*discovery.Static{static("s", true), static("s", true)}}})
	require.EqualError(t, err, strings.Join([]string{
		`static-discovery "s": id: also used by an [[inputs.discovering_prometheus.static-discovery]] section`,
		`scraper "a": name: also used by an [[inputs.discovering_prometheus.scraper]] section`,
	}, "\n"))
	var unreadable2 *UnreadableError
	require.False(t, errors.As(err, &unreadable2), "they are not a source that cannot be read")
}

// A Source changes the sections before they are validated: one more scraper, say, with its origin.
type addScraper struct{ s *kapacitor.Scraper }

func (a addScraper) Apply(s *Sections) error {
	s.Scrapers = append(s.Scrapers, &ScraperSection{Scraper: a.s, Origin: Origin{Option: "overrides"}})
	return nil
}

func TestSourceAddsSections(t *testing.T) {
	own := &discovery.Sections{Static: []*discovery.Static{static("s", true)}}
	p, err := Build(&Settings{Scrapers: []*kapacitor.Scraper{section("a", "s")}, Discoverers: own,
		Sources: []Source{addScraper{section("b", "s")}}})
	require.NoError(t, err)
	require.Len(t, p.Jobs, 2)

	_, err = Build(&Settings{Scrapers: []*kapacitor.Scraper{section("a", "s")}, Discoverers: own,
		Sources: []Source{addScraper{section("a", "nowhere")}}})
	require.EqualError(t, err, `overrides: scraper "a": name: also used by an [[inputs.discovering_prometheus.scraper]] section`)
}

// The same configuration read twice makes the same plan: every job is Same, every discoverer DeepEqual,
// secrets included, so that a reload of an unchanged file changes nothing.
func TestRebuiltPlanIsTheSame(t *testing.T) {
	settings := func() *Settings {
		s := section("a", "s")
		s.Username = "u"
		s.Password = config.NewSecret([]byte("secret"))
		s.HTTPHeaders = httpconfig.Headers{"X-Org": {Secrets: []config.Secret{config.NewSecret([]byte("org"))}}}
		s.RelabelConfigs = []*scrape.Relabel{{SourceLabels: []string{"__address__"}, Regex: ptr("(.*):.*"), TargetLabel: "host"}}
		return &Settings{Scrapers: []*kapacitor.Scraper{s}, Discoverers: &discovery.Sections{Static: []*discovery.Static{static("s", true)}}}
	}
	old, err := Build(settings())
	require.NoError(t, err)
	next, err := Build(settings())
	require.NoError(t, err)
	c := Compare(old, next)
	require.True(t, c.Empty(), "%s", c)
	require.Equal(t, []string{"a"}, c.Kept)
	require.Equal(t, "nothing changed", c.String())

	header := settings()
	header.Scrapers[0].HTTPHeaders["X-Org"].Secrets[0] = config.NewSecret([]byte("another org"))
	next, err = Build(header)
	require.NoError(t, err)
	require.Equal(t, []string{"a"}, Compare(old, next).Changed, "a header's secret is compared by value")

	other := settings()
	other.Scrapers[0].Password = config.NewSecret([]byte("another"))
	other.Discoverers.Static[0].Targets = []string{"localhost:9102"}
	other.Scrapers = append(other.Scrapers, section("b", "s"))
	next, err = Build(other)
	require.NoError(t, err)
	c = Compare(old, next)
	require.Equal(t, "jobs added: b; changed: a; removed: none; discoverers added: none; changed: static-discovery \"s\"; removed: none", c.String())
	c = Compare(next, old)
	require.Equal(t, []string{"b"}, c.Removed)
}

func ptr[T any](v T) *T { return &v }

// jobSource is a JobSource of fixed jobs and refusals.
type jobSource struct {
	jobs    []*SourceJob
	refused []Refusal
}

func (s jobSource) Jobs() ([]*SourceJob, []Refusal) { return s.jobs, s.refused }

// A JobSource's jobs join the plan after the sections' and before prometheus_config's; an object with a
// job that is not valid, or whose name is taken, is refused whole, with its reason, and the others run.
func TestBuildWithJobSource(t *testing.T) {
	prom := writeFile(t, "prometheus.yml", `
scrape_configs:
- {job_name: a/0, static_configs: [{targets: ["localhost:1"]}]}
- {job_name: a/1, static_configs: [{targets: ["localhost:2"]}]}
- {job_name: plugin, static_configs: [{targets: ["localhost:3"]}]}
- {job_name: b/1, static_configs: [{targets: ["localhost:4"]}]}
- {job_name: c/0, static_configs: [{targets: ["localhost:5"]}]}
- {job_name: file, static_configs: [{targets: ["localhost:6"]}]}
`)
	loaded, err := promconf.Load(prom, nil)
	require.NoError(t, err)
	job := func(i int, object, db string) *SourceJob {
		return &SourceJob{Job: loaded[i], DB: db, RP: "r", Origin: Origin{Option: "operator", Object: object}}
	}
	earlier := Refusal{Origin: Origin{Option: "operator", Object: "D"}, Err: errors.New("no secret")}
	source := jobSource{
		jobs:    []*SourceJob{job(0, "A", "d"), job(1, "A", "d"), job(3, "B", "d"), job(2, "B", "d"), job(4, "C", "bad")},
		refused: []Refusal{earlier},
	}
	promFile := writeFile(t, "p.yml", "scrape_configs:\n- {job_name: file, static_configs: [{targets: [\"localhost:7\"]}]}\n")
	p, err := Build(&Settings{
		Scrapers: []*kapacitor.Scraper{section("plugin", "s")}, Discoverers: &discovery.Sections{Static: []*discovery.Static{static("s", true)}},
		PrometheusConfig: promFile, JobSources: []JobSource{source},
		Routing: func(db, _ string) error {
			if db == "bad" {
				return errors.New("db: refused")
			}
			return nil
		},
	})
	require.NoError(t, err)
	var names []string
	for _, j := range p.Jobs {
		names = append(names, j.Name())
	}
	require.Equal(t, []string{"plugin", "a/0", "a/1", "file"}, names)
	require.Equal(t, Origin{Option: "operator", Object: "A"}, p.Jobs[1].Origin)
	require.Contains(t, p.Discoverers, loaded[0].Keys[0])
	require.NotContains(t, p.Discoverers, loaded[3].Keys[0], "a refused object's discoverers do not run")
	var why []string
	for _, r := range p.Refused {
		why = append(why, r.Origin.Object+": "+r.Err.Error())
	}
	require.Equal(t, []string{
		"D: no secret",
		`B: job "plugin": name: also used by an [[inputs.discovering_prometheus.scraper]] section`,
		`C: job "c/0": db: refused`,
	}, why)

	// A job of prometheus_config whose name a source's job took is prometheus_config's error.
	source.jobs = []*SourceJob{job(5, "F", "d")}
	_, err = Build(&Settings{PrometheusConfig: promFile, JobSources: []JobSource{source}})
	require.EqualError(t, err, `prometheus_config: job "file": name: also used by a job of F (operator)`)
}

package status

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"
)

//go:embed templates/page.html
var templates embed.FS

var pages = template.Must(template.New("page.html").ParseFS(templates, "templates/page.html"))

// label is one label of a target, for the pages, which list labels in name order.
type label struct{ Name, Value string }

func sortedLabels(m map[string]string) []label {
	out := make([]label, 0, len(m))
	for name, value := range m {
		out = append(out, label{name, value})
	}
	slices.SortFunc(out, func(a, b label) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// filters are the query parameters both pages take: scrapePool= keeps one scraper, health= (repeatable)
// the targets of those healths.
type filters struct {
	Pool    string
	Health  map[string]bool
	healths []string
}

func parseFilters(r *http.Request) (filters, error) {
	q := r.URL.Query()
	f := filters{Pool: q.Get("scrapePool"), Health: map[string]bool{}}
	for _, h := range q["health"] {
		if !slices.Contains(Healths, h) {
			return f, fmt.Errorf("health: %q is not one of %s", h, strings.Join(Healths, ", "))
		}
		f.Health[h] = true
		f.healths = append(f.healths, h)
	}
	return f, nil
}

// page is what every page shows around its content.
type page struct {
	Title    string
	Scrapers []string // every scraper's name, for the filter
	Healths  []string
	Filters  filters
	Alert    string // a problem that concerns every target (an instance the cluster does not list)
	Content  any
}

type poolView struct {
	Scraper
	Targets []targetView
	Up      int
}

type targetView struct {
	*ActiveTarget
	Age, Took          string
	Labels, Discovered []label
}

// serveTargets renders /targets: one section per scraper, each target with its health, last scrape, error
// and labels.
func serveTargets(w http.ResponseWriter, r *http.Request, src Source) {
	f, err := parseFilters(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	now := time.Now()
	targets := src.Targets().filter(f.Pool, f.healths)
	byPool := map[string][]targetView{}
	for i := range targets.Active {
		t := &targets.Active[i]
		v := targetView{ActiveTarget: t, Age: age(now, t.LastScrape), Labels: sortedLabels(t.Labels), Discovered: sortedLabels(t.DiscoveredLabels)}
		if !t.LastScrape.IsZero() {
			v.Took = roundDuration(time.Duration(t.LastScrapeDuration * float64(time.Second)))
		}
		byPool[t.ScrapePool] = append(byPool[t.ScrapePool], v)
	}
	var pools []poolView
	for _, s := range src.Scrapers() {
		if f.Pool != "" && s.Name != f.Pool {
			continue
		}
		p := poolView{Scraper: s, Targets: byPool[s.Name]}
		for _, t := range p.Targets {
			if t.Health == "up" {
				p.Up++
			}
		}
		pools = append(pools, p)
	}
	pg := page{Title: "Targets", Scrapers: targets.ScrapePools, Healths: Healths, Filters: f, Content: pools}
	if targets.Cluster != nil {
		pg.Alert = targets.Cluster.Error
	}
	render(w, "targets", pg)
}

type sdPool struct {
	Scraper
	Targets []sdTarget
	Active  int
}

// sdTarget is a discovered target and what relabeling made of it: its labels, or the rule that dropped it.
type sdTarget struct {
	Discovered, Labels []label
	RuleIndex          int
	Rule               string
	// Steps is the address of its relabel-steps page.
	Steps string
}

type sdView struct {
	Discoverers []discovererView
	Refused     []Refusal
	Pools       []sdPool
}

type discovererView struct {
	Discoverer
	Age string
}

// serveServiceDiscovery renders /service-discovery: each discoverer's state, then each scraper's discovered
// targets with their labels after relabeling, or the rule that dropped them.
func serveServiceDiscovery(w http.ResponseWriter, r *http.Request, src Source) {
	f, err := parseFilters(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	targets := src.Targets().filter(f.Pool, nil)
	byPool := map[string][]sdTarget{}
	for _, t := range targets.Active {
		byPool[t.ScrapePool] = append(byPool[t.ScrapePool], sdTarget{Discovered: sortedLabels(t.DiscoveredLabels), Labels: sortedLabels(t.Labels),
			Steps: stepsLink(t.ScrapePool, t.DiscoveredLabels)})
	}
	active := map[string]int{}
	for pool, ts := range byPool {
		active[pool] = len(ts)
	}
	for _, t := range targets.Dropped {
		rule, _ := json.Marshal(t.Rule)
		byPool[t.ScrapePool] = append(byPool[t.ScrapePool], sdTarget{Discovered: sortedLabels(t.DiscoveredLabels), RuleIndex: t.RuleIndex, Rule: string(rule),
			Steps: stepsLink(t.ScrapePool, t.DiscoveredLabels)})
	}
	var view sdView
	now := time.Now()
	for _, d := range src.Discoverers() {
		view.Discoverers = append(view.Discoverers, discovererView{Discoverer: d, Age: age(now, d.LastRefresh)})
	}
	view.Refused = src.Refused()
	for _, s := range src.Scrapers() {
		if f.Pool == "" || s.Name == f.Pool {
			view.Pools = append(view.Pools, sdPool{Scraper: s, Targets: byPool[s.Name], Active: active[s.Name]})
		}
	}
	render(w, "service-discovery", page{Title: "Service discovery", Scrapers: targets.ScrapePools, Healths: Healths, Filters: f, Content: view})
}

// render writes a page whole: a template error leaves a 500, not half a page.
func render(w http.ResponseWriter, name string, p page) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, p); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

// age is how long ago t was, or "never" when it is zero.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return roundDuration(now.Sub(t)) + " ago"
}

// roundDuration shows a duration to three significant digits or so: 1.23s, 45.6ms, 3m4s.
func roundDuration(d time.Duration) string {
	if d >= time.Minute {
		return d.Round(time.Second).String()
	}
	for _, unit := range []time.Duration{time.Second, 100 * time.Millisecond, 10 * time.Millisecond, time.Millisecond} {
		if d >= unit {
			return d.Round(unit / 100).String()
		}
	}
	return d.Round(time.Microsecond).String()
}

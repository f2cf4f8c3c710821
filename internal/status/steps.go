package status

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"
)

// RelabelSteps is what /api/v1/targets/relabel_steps answers for a target: Prometheus 3's steps, then what
// no peer shows, when relabeling keeps the target: the target it makes, the instances of the cluster that
// scrape it, and where its metrics go.
type RelabelSteps struct {
	Steps []RelabelStep `json:"steps"`
	// Target is the target the steps make; nil when a rule dropped it.
	Target *StepTarget `json:"target,omitempty"`
	// Cluster is who scrapes the target; nil without a cluster table, or for a dropped target.
	Cluster *StepCluster `json:"cluster,omitempty"`
	// Routing is where the target's metrics go; nil for a dropped target.
	Routing *StepRouting `json:"routing,omitempty"`
}

// RelabelStep is one target relabeling rule applied: the rule, the labels after it (none once a rule has
// dropped the target) and whether the target is still kept. Prometheus 3's RelabelStep, field for field.
type RelabelStep struct {
	Rule   *relabel.Config `json:"rule"`
	Output labels.Labels   `json:"output"`
	Keep   bool            `json:"keep"`
}

// StepTarget is the target relabeling makes: the labels its samples carry and its URL, or why no target
// is made of the labels (no address, say).
type StepTarget struct {
	Labels    map[string]string `json:"labels,omitempty"`
	ScrapeURL string            `json:"scrapeUrl,omitempty"`
	Error     string            `json:"error,omitempty"`
}

// StepCluster is the cluster's choice of the instances that scrape a target: every peer with its
// rendezvous weight for the target, highest first, of which the first ReplicationFactor own it.
type StepCluster struct {
	Self              string       `json:"self"`
	ReplicationFactor int          `json:"replicationFactor"`
	Peers             []PeerWeight `json:"peers"`
	ScrapedHere       bool         `json:"scrapedHere"`
}

// PeerWeight is a peer's weight for a target, as a fraction of the largest (0 to 1), and whether it owns it.
type PeerWeight struct {
	Name   string  `json:"name"`
	Weight float64 `json:"weight"`
	Owner  bool    `json:"owner"`
}

// StepRouting is where a target's metrics go: the db and rp tags they carry.
type StepRouting struct {
	DBTag string `json:"dbTag"`
	DB    string `json:"db"`
	RPTag string `json:"rpTag"`
	RP    string `json:"rp"`
}

// stepsQuery reads the parameters Prometheus 3's relabel_steps takes: scrapePool= and labels=, the
// target's discovered labels as a JSON object. Its errors are Prometheus' words.
func stepsQuery(r *http.Request) (pool string, discovered labels.Labels, err error) {
	pool = r.FormValue("scrapePool")
	if pool == "" {
		return "", discovered, errors.New("no scrapePool parameter provided")
	}
	text := r.FormValue("labels")
	if text == "" {
		return "", discovered, errors.New("no labels parameter provided")
	}
	if err := json.Unmarshal([]byte(text), &discovered); err != nil {
		return "", discovered, fmt.Errorf("error parsing labels: %w", err)
	}
	return pool, discovered, nil
}

// relabelSteps is the answer for a request, or the error Prometheus' API would give.
func relabelSteps(r *http.Request, src Source) (RelabelSteps, error) {
	pool, discovered, err := stepsQuery(r)
	if err != nil {
		return RelabelSteps{}, err
	}
	steps, err := src.RelabelSteps(pool, discovered)
	if err != nil {
		return RelabelSteps{}, fmt.Errorf("error retrieving scrape config: %w", err)
	}
	return steps, nil
}

// serveAPIRelabelSteps answers /api/v1/targets/relabel_steps as Prometheus 3 does; an error is bad_data.
func serveAPIRelabelSteps(w http.ResponseWriter, r *http.Request, src Source) {
	steps, err := relabelSteps(r, src)
	if err != nil {
		writeAPI(w, http.StatusBadRequest, response{Status: "error", ErrorType: "bad_data", Error: err.Error()})
		return
	}
	writeAPI(w, http.StatusOK, response{Status: "success", Data: steps})
}

// stepsLink is the address of a target's relabel-steps page, relative to the other pages.
func stepsLink(pool string, discovered map[string]string) string {
	text, _ := json.Marshal(discovered) // a map of strings always marshals
	return "relabel-steps?" + url.Values{"scrapePool": {pool}, "labels": {string(text)}}.Encode()
}

type stepView struct {
	Index        int
	Action, Rule string
	Output       []label
	Keep         bool
}

type stepsView struct {
	Pool       string
	Discovered []label
	Steps      []stepView
	Kept       bool
	Target     *StepTarget
	Labels     []label
	Cluster    *StepCluster
	Routing    *StepRouting
}

// serveRelabelSteps renders /relabel-steps: the answer of the API for a target, a rule a row.
func serveRelabelSteps(w http.ResponseWriter, r *http.Request, src Source) {
	steps, err := relabelSteps(r, src)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_, discovered, _ := stepsQuery(r) // relabelSteps has read it
	view := stepsView{Pool: r.FormValue("scrapePool"), Discovered: sortedLabels(discovered.Map()), Kept: true,
		Target: steps.Target, Cluster: steps.Cluster, Routing: steps.Routing}
	for i, s := range steps.Steps {
		rule, _ := json.Marshal(s.Rule)
		view.Steps = append(view.Steps, stepView{Index: i, Action: string(s.Rule.Action), Rule: string(rule), Output: sortedLabels(s.Output.Map()), Keep: s.Keep})
		view.Kept = s.Keep
	}
	if steps.Target != nil {
		view.Labels = sortedLabels(steps.Target.Labels)
	}
	render(w, "relabel-steps", page{Title: "Relabeling", Filters: filters{Pool: view.Pool}, Content: view})
}

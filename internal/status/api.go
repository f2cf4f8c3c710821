package status

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// response is Prometheus' API envelope.
type response struct {
	Status    string `json:"status"`
	Data      any    `json:"data,omitempty"`
	ErrorType string `json:"errorType,omitempty"`
	Error     string `json:"error,omitempty"`
}

// serveAPITargets answers /api/v1/targets as Prometheus does: state=active|dropped|any (any when absent)
// and scrapePool= keep part of the targets. An unknown state is a bad_data error naming it.
func serveAPITargets(w http.ResponseWriter, r *http.Request, src Source) {
	q := r.URL.Query()
	state := strings.ToLower(q.Get("state"))
	if state != "" && state != "any" && state != "active" && state != "dropped" {
		writeAPI(w, http.StatusBadRequest, response{Status: "error", ErrorType: "bad_data",
			Error: fmt.Sprintf("state: %q is not one of active, dropped, any", q.Get("state"))})
		return
	}
	t := src.Targets().filter(q.Get("scrapePool"), nil)
	if state == "active" {
		t.Dropped = []DroppedTarget{}
	}
	if state == "dropped" {
		t.Active = []ActiveTarget{}
	}
	writeAPI(w, http.StatusOK, response{Status: "success", Data: t})
}

func writeAPI(w http.ResponseWriter, code int, body response) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

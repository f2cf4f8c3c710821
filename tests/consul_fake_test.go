package tests

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// consulFake is a Consul agent's HTTP API as Prometheus' consul SD uses it: /v1/agent/self for the
// datacenter, /v1/catalog/services and /v1/health/service/<name> as blocking queries (index and wait
// parameters, X-Consul-Index header; and /v1/catalog/service/<name>, which Telegraf's inputs.prometheus reads), filtered by tag and node-meta, behind an ACL token and basic auth.
type consulFake struct {
	*httptest.Server
	Token, Username, Password string

	mu        sync.Mutex
	index     uint64
	changed   chan struct{} // closed and replaced at each change of state, waking blocking queries
	nodes     map[string]consulFakeNode
	instances []consulFakeInstance
	failing   bool
	failures  map[string]int           // 500s served, by path
	queries   map[string][]string      // the raw queries received, by path
	headers   map[string][]http.Header // the headers received, by path
}

type consulFakeNode struct {
	Address         string
	Meta            map[string]string
	TaggedAddresses map[string]string
}

// consulFakeInstance is one registered service instance with the status of its one check.
type consulFakeInstance struct {
	Node, Service, ID string
	Address           string // the service address; empty means the node's
	Port              int
	Tags              []string
	Meta              map[string]string
	Status            string
}

const consulFakeDatacenter = "dc1"

func startConsulFake(t *testing.T, token, username, password string) *consulFake {
	f := &consulFake{
		Token: token, Username: username, Password: password,
		index: 1, changed: make(chan struct{}), nodes: map[string]consulFakeNode{},
		failures: map[string]int{}, queries: map[string][]string{}, headers: map[string][]http.Header{},
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() {
		f.CloseClientConnections() // ends the blocking queries, which Close would wait for
		f.Close()
	})
	return f
}

// Addr is the agent's host:port, as Kapacitor's address key takes it.
func (f *consulFake) Addr() string { return strings.TrimPrefix(f.URL, "http://") }

// change applies a change of state under the lock, moves the index on and wakes the blocking queries.
func (f *consulFake) change(apply func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	apply()
	f.index++
	close(f.changed)
	f.changed = make(chan struct{})
}

// AddNode registers a node.
func (f *consulFake) AddNode(name string, node consulFakeNode) {
	f.change(func() { f.nodes[name] = node })
}

// Register adds a service instance.
func (f *consulFake) Register(i consulFakeInstance) {
	f.change(func() { f.instances = append(f.instances, i) })
}

// Deregister removes a service instance by its ID.
func (f *consulFake) Deregister(id string) {
	f.change(func() {
		f.instances = slices.DeleteFunc(f.instances, func(i consulFakeInstance) bool { return i.ID == id })
	})
}

// Fail makes every request answer 500, as an agent without a cluster leader does, or stops that. The
// blocking queries under way are answered at once.
func (f *consulFake) Fail(failing bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failing = failing
	close(f.changed)
	f.changed = make(chan struct{})
}

// Failures is how many 500s were served for a path.
func (f *consulFake) Failures(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failures[path]
}

// Requests returns the queries and headers received for a path.
func (f *consulFake) Requests(path string) ([]string, []http.Header) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.queries[path]), slices.Clone(f.headers[path])
}

func (f *consulFake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.queries[r.URL.Path] = append(f.queries[r.URL.Path], r.URL.RawQuery)
	f.headers[r.URL.Path] = append(f.headers[r.URL.Path], r.Header.Clone())
	f.mu.Unlock()
	if user, pass, ok := r.BasicAuth(); f.Username != "" && (!ok || user != f.Username || pass != f.Password) {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	if f.Token != "" && r.Header.Get("X-Consul-Token") != f.Token {
		http.Error(w, "ACL not found", http.StatusForbidden)
		return
	}
	if r.URL.Query().Has("filter") {
		http.Error(w, "this fake does not evaluate filter expressions", http.StatusBadRequest)
		return
	}
	switch {
	case r.URL.Path == "/v1/agent/self":
		if f.fail(w, r) {
			return
		}
		writeConsulJSON(w, 0, map[string]any{
			"Config": map[string]any{"Datacenter": consulFakeDatacenter, "NodeName": "node-1"},
			"Member": map[string]any{"Name": "node-1", "Addr": "127.0.0.1"},
		})
	case r.URL.Path == "/v1/catalog/services":
		f.block(w, r, func() any {
			services := map[string][]string{}
			for _, i := range f.matching(r, "") {
				tags := services[i.Service]
				if tags == nil {
					tags = []string{}
				}
				for _, tag := range i.Tags {
					if !slices.Contains(tags, tag) {
						tags = append(tags, tag)
					}
				}
				services[i.Service] = tags
			}
			return services
		})
	case strings.HasPrefix(r.URL.Path, "/v1/health/service/"):
		f.block(w, r, func() any {
			entries := []map[string]any{}
			for _, i := range f.matching(r, strings.TrimPrefix(r.URL.Path, "/v1/health/service/")) {
				node := f.nodes[i.Node]
				entries = append(entries, map[string]any{
					"Node": map[string]any{
						"ID": "id-" + i.Node, "Node": i.Node, "Address": node.Address, "Datacenter": consulFakeDatacenter,
						"TaggedAddresses": node.TaggedAddresses, "Meta": node.Meta,
					},
					"Service": map[string]any{
						"ID": i.ID, "Service": i.Service, "Tags": i.Tags, "Meta": i.Meta, "Port": i.Port, "Address": i.Address,
					},
					"Checks": []map[string]any{{
						"Node": i.Node, "CheckID": "service:" + i.ID, "Name": "Service '" + i.Service + "' check",
						"Status": i.Status, "ServiceID": i.ID, "ServiceName": i.Service,
					}},
				})
			}
			return entries
		})
	case strings.HasPrefix(r.URL.Path, "/v1/catalog/service/"): // Telegraf's inputs.prometheus asks here
		f.block(w, r, func() any {
			entries := []map[string]any{}
			for _, i := range f.matching(r, strings.TrimPrefix(r.URL.Path, "/v1/catalog/service/")) {
				node := f.nodes[i.Node]
				entries = append(entries, map[string]any{
					"ID": "id-" + i.Node, "Node": i.Node, "Address": node.Address, "Datacenter": consulFakeDatacenter,
					"TaggedAddresses": node.TaggedAddresses, "NodeMeta": node.Meta,
					"ServiceID": i.ID, "ServiceName": i.Service, "ServiceAddress": i.Address, "ServiceTags": i.Tags,
					"ServiceMeta": i.Meta, "ServicePort": i.Port,
				})
			}
			return entries
		})
	default:
		http.NotFound(w, r)
	}
}

// fail answers 500 when failing; it is called with the lock released.
func (f *consulFake) fail(w http.ResponseWriter, r *http.Request) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.failing {
		return false
	}
	f.failures[r.URL.Path]++
	http.Error(w, "No cluster leader", http.StatusInternalServerError)
	return true
}

// block answers a blocking query: when the request's index is the current one, it waits until the state
// changes or the request's wait time elapses, then answers with the state of then and its index.
func (f *consulFake) block(w http.ResponseWriter, r *http.Request, answer func() any) {
	index, _ := strconv.ParseUint(r.URL.Query().Get("index"), 10, 64)
	wait := 5 * time.Minute // Consul's default
	if raw := r.URL.Query().Get("wait"); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil {
			http.Error(w, "Invalid wait time", http.StatusBadRequest)
			return
		}
		wait = d
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		if f.fail(w, r) {
			return
		}
		f.mu.Lock()
		if index == 0 || index != f.index {
			body, current := answer(), f.index
			f.mu.Unlock()
			writeConsulJSON(w, current, body)
			return
		}
		changed := f.changed
		f.mu.Unlock()
		select {
		case <-changed:
		case <-timer.C:
			index = 0 // answer as it is now
		case <-r.Context().Done():
			return
		}
	}
}

// matching returns the instances of a service (every service when name is empty) whose node has the
// request's node-meta and which have all of the request's tags. The lock is held.
func (f *consulFake) matching(r *http.Request, name string) []consulFakeInstance {
	var out []consulFakeInstance
next:
	for _, i := range f.instances {
		if name != "" && i.Service != name {
			continue
		}
		for _, pair := range r.URL.Query()["node-meta"] {
			key, value, _ := strings.Cut(pair, ":")
			if f.nodes[i.Node].Meta[key] != value {
				continue next
			}
		}
		for _, tag := range r.URL.Query()["tag"] {
			if !slices.Contains(i.Tags, tag) {
				continue next
			}
		}
		out = append(out, i)
	}
	return out
}

func writeConsulJSON(w http.ResponseWriter, index uint64, body any) {
	w.Header().Set("Content-Type", "application/json")
	if index > 0 {
		w.Header().Set("X-Consul-Index", strconv.FormatUint(index, 10))
	}
	w.Header().Set("X-Consul-KnownLeader", "true")
	w.Header().Set("X-Consul-LastContact", "0")
	_ = json.NewEncoder(w).Encode(body)
}

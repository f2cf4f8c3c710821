// Package status serves the live state of a running plugin over HTTP, as Prometheus serves its own: the
// /targets and /service-discovery pages (server-rendered, no script, no asset fetched from anywhere),
// /api/v1/targets and /api/v1/targets/relabel_steps in Prometheus' envelope (with the /relabel-steps page of
// the latter), /metrics, /-/healthy, /-/ready and, when enabled, /-/reload.
package status

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/prometheus/model/labels"
)

// Source is the live state the server shows. Its methods are called on every request, concurrently with
// the scrapes, and return snapshots: none of them may wait for a scrape to end.
type Source interface {
	Targets() Targets
	Scrapers() []Scraper
	Discoverers() []Discoverer
	// Refused are the objects (the prometheus-operator's monitors) whose scrapers do not run, and why.
	Refused() []Refusal
	// Ready tells whether every discoverer has answered once.
	Ready() bool
	// RelabelSteps applies the target relabeling rules of a scrape pool to a target's discovered labels,
	// one by one; an error says the pool is unknown, or the labels over a bound.
	RelabelSteps(pool string, discovered labels.Labels) (RelabelSteps, error)
}

// Scraper is one scrape pool: where its metrics go and which discoverers feed it.
type Scraper struct {
	Name, DB, RP string
	Discoverers  []string
	// Object is the object it was made from ("ServiceMonitor monitoring/web"), if any.
	Object string
}

// Refusal is an object whose scrapers do not run, and why.
type Refusal struct {
	Object, Reason string
}

// Discoverer is the state of one discoverer.
type Discoverer struct {
	Name string
	// Answered tells whether its first answer has come (or it failed to start).
	Answered bool
	// Refreshes counts its updates, Errors its failures.
	Refreshes, Errors uint64
	// LastRefresh is when its last update came; zero before the first.
	LastRefresh time.Time
	// LastError is the last error it logged, until it recovers.
	LastError string
	// Targets counts the targets of its current groups.
	Targets int
}

// Config says how the server listens and whom it serves.
type Config struct {
	// Address is host:port; port 0 picks a free one.
	Address string
	// TLS, when not nil, serves HTTPS.
	TLS *tls.Config
	// Username and Password, when Username is set, are the basic-auth credentials every request needs.
	Username, Password string
	// Metrics is what /metrics serves.
	Metrics prometheus.Gatherer
	// Reload, when set, serves POST /-/reload, as Prometheus' --web.enable-lifecycle: it reloads the
	// configuration, and its error is the answer's, with 500. Unset, the request is refused (403).
	Reload func() error
	// Routes are more handlers by pattern (Kapacitor's config API), behind the same auth as the pages.
	Routes map[string]http.Handler
}

// Loopback tells whether a host:port names only this machine: a loopback IP or "localhost". An empty
// host listens on every interface, and is not.
func Loopback(address string) (bool, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return false, err
	}
	if host == "localhost" {
		return true, nil
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback(), nil
}

// Server is a listening status server.
type Server struct {
	server *http.Server
	url    string
}

// Listen starts serving src on cfg.Address; an error names what failed (the address in use, say).
func Listen(cfg Config, src Source) (*Server, error) {
	l, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		return nil, err
	}
	scheme := "http"
	if cfg.TLS != nil {
		l, scheme = tls.NewListener(l, cfg.TLS), "https"
	}
	s := &Server{
		server: &http.Server{
			Handler: Handler(cfg, src),
			// A client that sends its request slowly, reads the answer slowly or keeps its connection
			// idle gives it up: none holds a connection (and its goroutine and buffers) for ever.
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      time.Minute,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
		},
		url: (&url.URL{Scheme: scheme, Host: l.Addr().String(), Path: "/targets"}).String(),
	}
	go func() { _ = s.server.Serve(l) }() // it returns when Close closes the listener
	return s, nil
}

// URL is the address of the /targets page, with the port actually listened on.
func (s *Server) URL() string { return s.url }

// Close stops listening and ends the open connections.
func (s *Server) Close() error {
	if err := s.server.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// MaxRenders is how many requests for a page or the API are answered at once.
const MaxRenders = 4

// renderWait is how long a request for a page or the API waits for its turn before it is answered 503: a
// client that asks again later is better served than one whose request piles up behind many others.
var renderWait = 3 * time.Second

// Handler serves the pages and the API of src, behind basic auth when cfg.Username is set.
func Handler(cfg Config, src Source) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Location", "targets") // relative, for a server behind a proxy's path prefix
		w.WriteHeader(http.StatusFound)
	})
	// Each of these copies every target and renders its answer whole: a few at a time bound the memory
	// that many clients asking at once could take; the others wait their turn.
	renders := make(chan struct{}, MaxRenders)
	for pattern, serve := range map[string]func(http.ResponseWriter, *http.Request, Source){
		"GET /targets": serveTargets, "GET /service-discovery": serveServiceDiscovery, "GET /api/v1/targets": serveAPITargets,
		"GET /api/v1/targets/relabel_steps": serveAPIRelabelSteps, "GET /relabel-steps": serveRelabelSteps,
	} {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			wait := time.NewTimer(renderWait)
			defer wait.Stop()
			select {
			case renders <- struct{}{}:
				defer func() { <-renders }()
				serve(w, r, src)
			case <-wait.C:
				w.Header().Set("Retry-After", "1")
				http.Error(w, "Service Unavailable: too many requests at once, try again", http.StatusServiceUnavailable)
			case <-r.Context().Done(): // the client went away while it waited
			}
		})
	}
	metrics := cfg.Metrics
	if metrics == nil {
		metrics = prometheus.NewRegistry()
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("discovering_prometheus is Healthy.\n"))
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !src.Ready() {
			http.Error(w, "Service Unavailable: discovery has not answered yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("discovering_prometheus is Ready.\n"))
	})
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, _ *http.Request) {
		if cfg.Reload == nil {
			http.Error(w, "Lifecycle API is not enabled (status_enable_lifecycle).", http.StatusForbidden)
			return
		}
		if err := cfg.Reload(); err != nil {
			http.Error(w, "failed to reload config: "+err.Error(), http.StatusInternalServerError)
		}
	})
	for pattern, route := range cfg.Routes {
		mux.Handle(pattern, route)
	}
	var h http.Handler = mux
	if cfg.Username != "" {
		h = basicAuth(cfg.Username, cfg.Password, mux)
	}
	// On loopback, only this machine's names may be asked for: a page of another site whose name an
	// attacker points at 127.0.0.1 (DNS rebinding) would otherwise read the answers in the victim's browser.
	hostOK := func(string) bool { return true }
	if loopback, _ := Loopback(cfg.Address); loopback {
		bound, _, _ := net.SplitHostPort(cfg.Address)
		hostOK = func(host string) bool { return localHost(host, bound) }
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The pages run no script and fetch nothing, so a browser may forbid both: a target's string that
		// got past html/template's escaping would still run nothing. No other site may frame the pages.
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		// Every answer is the state of a moment, and may name internal hosts: no cache keeps it.
		w.Header().Set("Cache-Control", "no-store")
		if !hostOK(r.Host) {
			http.Error(w, "Misdirected Request: this server answers to localhost and loopback addresses only", http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// localHost tells whether a request's Host (with or without its port) names this machine: localhost, a
// loopback IP, or the host the server is bound to.
func localHost(host, bound string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") || strings.EqualFold(host, bound) {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// basicAuth lets through the requests with the credentials, compared in constant time: their SHA-256
// digests are, so that not even their lengths show in the time an answer takes.
func basicAuth(username, password string, next http.Handler) http.Handler {
	wantUser, wantPassword := sha256.Sum256([]byte(username)), sha256.Sum256([]byte(password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		user, pass := sha256.Sum256([]byte(u)), sha256.Sum256([]byte(p))
		if !ok || subtle.ConstantTimeCompare(user[:], wantUser[:])&subtle.ConstantTimeCompare(pass[:], wantPassword[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="discovering_prometheus", charset="UTF-8"`)
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

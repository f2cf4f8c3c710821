package telegrafconf

import (
	"fmt"
	"net/http"

	"github.com/influxdata/toml/ast"
	promconfig "github.com/prometheus/common/config"

	"github.com/discovering-prometheus/discovering-prometheus/internal/tomltext"
)

// httpSDDefaultURL and httpSDDefaultInterval are inputs.prometheus' defaults of http_service_discovery.
const (
	httpSDDefaultURL      = "http://localhost:9000/service-discovery"
	httpSDDefaultInterval = "5m"
)

// httpSD turns http_service_discovery into an http-discovery section. inputs.prometheus reads each target of
// the answer as a URL ("http://" put before one without a scheme, /metrics after one without a path) and
// tags its points with its group's labels, which Prometheus' HTTP SD makes the target's labels too. Its
// client has the table's TLS keys and no credentials, as inputs.prometheus' has.
func (c *conversion) httpSD() {
	t, ok := c.table.Fields["http_service_discovery"].(*ast.Table)
	if !ok || !boolean(t, "enabled") {
		return
	}
	url := raw(t, "url")
	if url == "" {
		url = q(httpSDDefaultURL)
	}
	interval := raw(t, "query_interval")
	if interval == "" {
		interval = q(httpSDDefaultInterval)
	}
	discoverer := []string{"url = " + url, "refresh-interval = " + interval}
	for _, k := range [][2]string{{"tls_ca", "ssl-ca"}, {"tls_cert", "ssl-cert"}, {"tls_key", "ssl-key"},
		{"tls_server_name", "ssl-server-name"}, {"insecure_skip_verify", "insecure-skip-verify"}} {
		if v := raw(c.table, k[0]); v != "" {
			discoverer = append(discoverer, k[1]+" = "+v)
		}
	}
	c.add(&section{
		scraper: []string{`scheme = "http"`, `metrics-path = "/metrics"`},
		// A target written as a URL: its scheme, host and port, and path, where inputs.prometheus reads them.
		relabel: []rule{
			replace("__scheme__", "$1", `(?i)(https?)://.*`, "__address__"),
			replace("__metrics_path__", "$1", `(?i)https?://[^/?#]*(/[^?#]*).*`, "__address__"),
			replace("__address__", "$1", `(?i)https?://([^/?#]*).*`, "__address__"),
		},
		service:    "http-discovery",
		discoverer: discoverer,
	})
}

// headers turns http_headers into every scraper's http-headers. inputs.prometheus sets Host as the
// request's host and any other header as given; Prometheus refuses to set the headers it reserves.
func (c *conversion) headers() {
	t, ok := c.table.Fields["http_headers"].(*ast.Table)
	if !ok {
		return
	}
	for _, kv := range keyValues(t) {
		if _, reserved := promconfig.ReservedHeaders[http.CanonicalHeaderKey(kv.Key)]; reserved {
			c.lost("http_headers", fmt.Sprintf("%q is a header Prometheus' HTTP client reserves and does not send; it is left out", kv.Key))
			continue
		}
		c.headerLines = append(c.headerLines, fmt.Sprintf("%s = { values = [%s] }", tomltext.Key(kv.Key), kv.Value.Source()))
	}
}

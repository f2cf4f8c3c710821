package httpconfig

import (
	"fmt"
	"maps"
	"net/http"
	"slices"

	"github.com/influxdata/telegraf/config"
	promconfig "github.com/prometheus/common/config"
	"golang.org/x/net/http/httpguts"
)

// Header is one header of the http-headers key, Prometheus 3's http_headers: its values, sent as they are,
// and its secrets (Telegraf secrets, which a secret store may hold), sent too but never shown.
type Header struct {
	Values  []string        `toml:"values"`
	Secrets []config.Secret `toml:"secrets"`
}

// Headers is the http-headers key: a table of header name → Header, sent on every request.
type Headers map[string]*Header

// Prometheus resolves the secrets of h and returns them as Prometheus' http_headers (nil for none). A
// header Prometheus reserves (Authorization, Host, User-Agent, ...) is refused, as Prometheus refuses it;
// errors start with the key.
func (h Headers) Prometheus() (*promconfig.Headers, error) {
	if len(h) == 0 {
		return nil, nil
	}
	out := &promconfig.Headers{Headers: make(map[string]promconfig.Header, len(h))}
	for _, name := range slices.Sorted(maps.Keys(h)) {
		key := "http-headers." + name
		if !httpguts.ValidHeaderFieldName(name) {
			return nil, fmt.Errorf("http-headers: %q is not a header name", name)
		}
		if _, reserved := promconfig.ReservedHeaders[http.CanonicalHeaderKey(name)]; reserved {
			return nil, fmt.Errorf("%s: a header Prometheus reserves, not to be set", key)
		}
		header := h[name]
		if header == nil || len(header.Values)+len(header.Secrets) == 0 {
			return nil, fmt.Errorf("%s: no values or secrets", key)
		}
		ph := promconfig.Header{Values: slices.Clone(header.Values)}
		for i, v := range header.Values {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, fmt.Errorf("%s.values[%d]: not a header value (a control character)", key, i)
			}
		}
		for i := range header.Secrets {
			s, err := Resolve(&header.Secrets[i])
			if err != nil {
				return nil, fmt.Errorf("%s.secrets[%d]: %w", key, i, err)
			}
			ph.Secrets = append(ph.Secrets, s)
		}
		out.Headers[name] = ph
	}
	return out, nil
}

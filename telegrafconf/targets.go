package telegrafconf

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// userinfo matches a URL that holds credentials.
var userinfo = regexp.MustCompile(`^[^:]*://[^/?#]*@`)

// urls turns urls into static-discovery sections: one per scheme, path and query, since a scraper has one
// of each.
func (c *conversion) urls() {
	type group struct{ scheme, path, query string }
	var order []group
	targets := map[group][]string{}
	for _, u := range strs(c.table, "urls") {
		m := urlParts.FindStringSubmatch(u)
		if len(m) < 5 || strings.EqualFold(m[1], "unix") {
			c.lost("urls", fmt.Sprintf("%q is not an http(s) URL the scrapers can reach (unix sockets are not scraped); it is left out", u))
			continue
		}
		if userinfo.MatchString(u) {
			c.lost("urls", fmt.Sprintf("%q holds credentials, which a target cannot: set username and password", u))
		}
		if sorted := sortedQuery(m[4]); sorted != m[4] {
			c.differs("urls", fmt.Sprintf("the url tag of %q has its query sorted, ?%s, as Prometheus writes a target's parameters", u, sorted))
		}
		g := group{strings.ToLower(m[1]), m[3], m[4]}
		if g.path == "" {
			g.path = "/metrics"
		}
		if _, ok := targets[g]; !ok {
			order = append(order, g)
		}
		if !slices.Contains(targets[g], m[2]) {
			targets[g] = append(targets[g], m[2])
		}
	}
	for _, g := range order {
		quoted := make([]string, len(targets[g]))
		for i, t := range targets[g] {
			quoted[i] = q(t)
		}
		c.add(&section{
			scraper:    []string{"scheme = " + q(g.scheme), "metrics-path = " + q(g.path)},
			query:      g.query,
			service:    "static-discovery",
			discoverer: []string{"targets = [" + strings.Join(quoted, ", ") + "]"},
		})
	}
}

// services turns each of kubernetes_services into a dns section of A records: inputs.prometheus scrapes
// every address the service's name resolves to, on the URL's port, and tags it address.
func (c *conversion) services() {
	for _, u := range strs(c.table, "kubernetes_services") {
		m := urlParts.FindStringSubmatch(u)
		if len(m) < 5 {
			c.lost("kubernetes_services", fmt.Sprintf("%q is not a URL; it is left out", u))
			continue
		}
		host, port := m[2], fmt.Sprint(defaultPort(m[1]))
		if i := strings.LastIndex(host, ":"); i >= 0 && !strings.HasSuffix(host, "]") {
			host, port = host[:i], host[i+1:]
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 {
			c.lost("kubernetes_services", fmt.Sprintf("%q has no port the migration can read; it is left out", u))
			continue
		}
		path := m[3]
		if path == "" {
			path = "/metrics"
		}
		c.add(&section{
			scraper: []string{"scheme = " + q(strings.ToLower(m[1])), "metrics-path = " + q(path)},
			query:   m[4],
			relabel: []rule{
				replace("address", "$1", `\[?(.*?)\]?:[0-9]+`, "__address__"),
			},
			service:    "dns",
			discoverer: []string{"record-names = [" + q(host) + "]", `type = "A"`, "port = " + strconv.Itoa(n), `refresh-interval = "10s"`},
		})
	}
}

// sortedQuery is a query with its parameters sorted by name, as Prometheus encodes a target's.
func sortedQuery(query string) string {
	values, err := url.ParseQuery(query)
	if err != nil {
		return query
	}
	return values.Encode()
}

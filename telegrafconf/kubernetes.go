package telegrafconf

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The pod labels of Prometheus' kubernetes discovery that the rules use.
const (
	podAnnotation = "__meta_kubernetes_pod_annotation_"
	podLabel      = "__meta_kubernetes_pod_label_"
	podIP         = "__meta_kubernetes_pod_ip"
	portLabel     = "__tmp_port"
)

// annotation is the label of a prometheus.io/<name> annotation.
func annotation(name string) string { return podAnnotation + "prometheus_io_" + name }

// pods turns monitor_kubernetes_pods into a kubernetes section of role pod, with the relabel rules that
// pick the pods inputs.prometheus scrapes (ready: running, with a Ready condition) and the URL it scrapes
// them on, from monitor_kubernetes_pods_method's settings and annotations, and the tags it gives them.
func (c *conversion) pods() {
	t := c.table
	if !boolean(t, "monitor_kubernetes_pods") {
		return
	}
	method, _ := str(t, "monitor_kubernetes_pods_method")
	settings, annotations := false, false
	switch method {
	case "", "annotations":
		annotations = true
	case "settings":
		settings = true
	case "settings+annotations":
		settings, annotations = true, true
	default:
		c.lost("monitor_kubernetes_pods_method", fmt.Sprintf("%q is not a method: inputs.prometheus scrapes no pod, and neither does the scraper", method))
	}

	rules := []rule{{
		`source-labels = ["__meta_kubernetes_pod_phase", "__meta_kubernetes_pod_ready"]`,
		`regex = "Running;(true|false)"`, `action = "keep"`,
	}}
	switch {
	case !settings && !annotations:
		rules = append(rules, rule{`action = "drop"`})
	case !settings:
		rules = append(rules, rule{"source-labels = [" + q(annotation("scrape")) + "]", `regex = "true"`, `action = "keep"`})
	case annotations:
		rules = append(rules, rule{"source-labels = [" + q(annotation("scrape")) + "]", `regex = "false"`, `action = "drop"`})
	}

	scheme, path, port := "http", "/metrics", "9102"
	if settings {
		if s, _ := str(t, "monitor_kubernetes_pods_scheme"); s != "" {
			scheme = s
		}
		if s, _ := str(t, "monitor_kubernetes_pods_path"); s != "" {
			path = s
		}
		if n, _ := strconv.Atoi(raw(t, "monitor_kubernetes_pods_port")); n != 0 {
			port = strconv.Itoa(n)
		}
	}
	var query string
	path, query, _ = strings.Cut(path, "?")
	rules = append(rules, replace("__scheme__", scheme, ""), replace("__metrics_path__", path, ""), replace(portLabel, port, ""))
	if annotations {
		rules = append(rules,
			replace("__scheme__", "$1", "(.+)", annotation("scheme")),
			replace("__metrics_path__", "$1", "(.+)", annotation("path")),
			replace(portLabel, "$1", "(.{2,}|[^0])", annotation("port")))
	}
	rules = append(rules,
		replace("__address__", "$1:$2", "([^:]*);(.*)", podIP, portLabel),
		replace("__address__", "[$1]:$2", "(.*:.*);(.*)", podIP, portLabel),
		replace("address", "$1", "", podIP))
	rules = append(rules, c.filter("pod_annotation_include", "pod_annotation_exclude", podAnnotation)...)
	namespace := "namespace"
	if s, _ := str(t, "pod_namespace_label_name"); s != "" {
		namespace = s
	}
	rules = append(rules, replace("pod_name", "$1", "", "__meta_kubernetes_pod_name"), replace(namespace, "$1", "", "__meta_kubernetes_namespace"))
	rules = append(rules, c.filter("pod_label_include", "pod_label_exclude", podLabel)...)

	s := &section{query: query, relabel: rules, service: "kubernetes", discoverer: []string{`role = "pod"`}}
	if v := raw(t, "kube_config"); v != "" {
		s.discoverer = append(s.discoverer, "kubeconfig-file = "+v)
	} else {
		s.discoverer = append(s.discoverer, "in-cluster = true")
	}
	if v := raw(t, "monitor_kubernetes_pods_namespace"); v != "" && v != `""` {
		s.discoverer = append(s.discoverer, "namespaces = ["+v+"]")
	}
	field, _ := str(t, "kubernetes_field_selector")
	if scope, _ := str(t, "pod_scrape_scope"); strings.EqualFold(scope, "node") {
		c.differs("pod_scrape_scope", "the pods of this node are watched through the API server, with the field selector spec.nodeName=${NODE_NAME} (set NODE_NAME from the Downward API's spec.nodeName), where inputs.prometheus read the kubelet at node_ip:10250 every pod_scrape_interval")
		if field != "" {
			field += ","
		}
		field += "spec.nodeName=${NODE_NAME}"
	}
	label, _ := str(t, "kubernetes_label_selector")
	if label != "" || field != "" {
		sel := subTable{name: "selectors", array: true, lines: []string{`role = "pod"`}}
		if label != "" {
			sel.lines = append(sel.lines, "label = "+q(label))
		}
		if field != "" {
			sel.lines = append(sel.lines, "field = "+q(field))
		}
		s.subTables = append(s.subTables, sel)
	}
	c.add(s)
}

// filter is the rules that make tags of the labels with prefix, as inputs.prometheus makes tags of a pod's
// annotations or labels: those the include globs match (all without), less those the exclude globs match.
// Prometheus' label names have the annotation's or label's name with every character but letters, digits
// and _ made _, and the globs are matched against those names.
func (c *conversion) filter(includeKey, excludeKey, prefix string) []rule {
	var rules []rule
	if exclude := strs(c.table, excludeKey); len(exclude) > 0 {
		rules = append(rules, rule{"regex = " + q(prefix+"("+c.globs(excludeKey, exclude)+")"), `action = "labeldrop"`})
	}
	include := ".+"
	if globs := strs(c.table, includeKey); len(globs) > 0 {
		include = c.globs(includeKey, globs)
	}
	return append(rules, rule{"regex = " + q(prefix+"("+include+")"), `replacement = "$1"`, `action = "labelmap"`})
}

// invalidLabelChar is what Prometheus makes _ in a label name.
var invalidLabelChar = regexp.MustCompile(`[^a-zA-Z0-9_]`)

// globs is a regular expression matching the label names the globs (Telegraf's filter: *, ?, {a,b})
// match, as Prometheus names them.
func (c *conversion) globs(key string, globs []string) string {
	alternatives := make([]string, len(globs))
	for i, g := range globs {
		var b strings.Builder
		depth := 0
		for _, r := range g {
			switch {
			case r == '*':
				b.WriteString(".*")
			case r == '?':
				b.WriteString(".")
			case r == '{':
				depth++
				b.WriteString("(?:")
			case r == '}' && depth > 0:
				depth--
				b.WriteString(")")
			case r == ',' && depth > 0:
				b.WriteString("|")
			case r == '[' || r == ']' || r == '\\':
				c.lost(key, fmt.Sprintf("%q: character classes and escapes are read as the characters they hold", g))
				b.WriteString("_")
			default:
				b.WriteString(invalidLabelChar.ReplaceAllString(string(r), "_"))
			}
		}
		for ; depth > 0; depth-- {
			b.WriteString(")")
		}
		alternatives[i] = b.String()
	}
	return strings.Join(alternatives, "|")
}

package promconf

// The service-discovery mechanisms of this build, so that a scrape_config of any of them loads: Prometheus'
// plugins package, which leaves out those a build leaves out with its tags (remove_all_sd, enable_<name>_sd)
// as our discoverer sections do. The cloud SDKs among them are what makes the binary grow most; it lives in a
// file of its own so that its cost is easy to measure.
import _ "github.com/prometheus/prometheus/plugins"

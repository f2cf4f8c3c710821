package promconf

// Every service-discovery mechanism Prometheus has, so that any scrape_config loads. It is what makes the
// binary grow most (the cloud SDKs); it lives in a file of its own so that its cost is easy to measure.
import _ "github.com/prometheus/prometheus/discovery/install"

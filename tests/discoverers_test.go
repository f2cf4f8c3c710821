package tests

import (
	"sort"
	"testing"
)

// discovererTests holds one end-to-end test per discoverer service, each registered by its own file
// (dns_test.go, consul_test.go, ...) under the service's Kapacitor name.
var discovererTests = map[string]func(t *testing.T){}

// TestDiscoverers runs TestDiscoverers/<service> for every discoverer: targets and labels found, metrics of
// real loopback exporters arriving with db/rp, changes followed, failures survived.
func TestDiscoverers(t *testing.T) {
	names := make([]string, 0, len(discovererTests))
	for name := range discovererTests {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, discovererTests[name])
	}
}

package tests

import (
	"slices"
	"sort"
	"testing"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/stretchr/testify/require"
)

// discovererTests holds one end-to-end test per discoverer service, each registered by its own file
// (dns_test.go, consul_test.go, ...) under the service's Kapacitor name.
var discovererTests = map[string]func(t *testing.T){}

// TestDiscoverers runs TestDiscoverers/<service> for every discoverer: targets and labels found, metrics of
// real loopback exporters arriving with db/rp, changes followed, failures survived. The services are those
// of discovery.Services: one without a registered test fails, as does a test for no service.
func TestDiscoverers(t *testing.T) {
	missing, unknown := untestedServices(discovery.Services, discovererTests)
	for _, name := range missing {
		t.Errorf("discoverer service %q has no test in discovererTests", name)
	}
	for _, name := range unknown {
		t.Errorf("discovererTests[%q]: no such service in discovery.Services", name)
	}
	for _, name := range discovery.Services {
		if test, ok := discovererTests[name]; ok {
			t.Run(name, test)
		}
	}
}

// untestedServices returns the services with no registered test, and the registered tests of no service.
func untestedServices(services []string, registered map[string]func(t *testing.T)) (missing, unknown []string) {
	for _, name := range services {
		if _, ok := registered[name]; !ok {
			missing = append(missing, name)
		}
	}
	for name := range registered {
		if !slices.Contains(services, name) {
			unknown = append(unknown, name)
		}
	}
	sort.Strings(unknown)
	return missing, unknown
}

func TestUntestedServices(t *testing.T) {
	registered := map[string]func(t *testing.T){"dns": nil, "old": nil}
	missing, unknown := untestedServices([]string{"consul", "dns"}, registered)
	require.Equal(t, []string{"consul"}, missing)
	require.Equal(t, []string{"old"}, unknown)
	missing, unknown = untestedServices(discovery.Services, discovererTests)
	require.Empty(t, missing, "services without a test")
	require.Empty(t, unknown, "tests without a service")
}

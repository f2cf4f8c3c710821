package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

func init() {
	discovererTests["azure"] = testAzure
}

// testAzure runs the runner inside a namespace whose login.microsoftonline.com and management.azure.com
// are the fake, authenticating with a client secret (authentication-method OAuth).
func testAzure(t *testing.T) {
	ns := NewNetNS(t)
	ns.WriteFile(t, "hosts", "127.0.0.1 localhost login.microsoftonline.com management.azure.com\n")
	certs := newCloudCerts(t, t.TempDir(), "login.microsoftonline.com", "management.azure.com")
	env := []string{"SSL_CERT_FILE=" + certs.CA}

	for i, ip := range []string{"127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14"} {
		StartExporterIn(t, ns, fmt.Sprintf("vm-%d", i+1), ip+":9100")
	}
	web := map[string]string{"team": "web"}
	vm1 := azureFakeVM{Name: "vm-1", ResourceGroup: "prod", PrivateIP: "127.0.0.11", PublicIP: "20.0.0.11", Tags: web}
	vm2 := azureFakeVM{Name: "vm-2", ResourceGroup: "prod", PrivateIP: "127.0.0.12", Tags: web}
	pool0 := azureFakeVM{Name: "pool_0", ResourceGroup: "prod", ScaleSet: "pool", InstanceID: "0", PrivateIP: "127.0.0.13", Tags: web}
	pool1 := azureFakeVM{Name: "pool_1", ResourceGroup: "prod", ScaleSet: "pool", InstanceID: "1", PrivateIP: "127.0.0.14", Tags: web}
	dev := azureFakeVM{Name: "dev-1", ResourceGroup: "dev", PrivateIP: "127.0.0.19"}
	fake := startCloudFake(t, ns, "azure-fake", certs)
	fake.SetInstances([]azureFakeVM{vm1, dev, vm2, pool0})

	toml := fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "azure"
    db = "cloud"
    rp = "month"
    discoverer-service = "azure"
    discoverer-id = "prod"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.azure]]
    id = "prod"
    port = 9100
    subscription-id = %q
    tenant-id = %q
    client-id = %q
    client-secret = %q
    refresh-interval = "1s"
    resource-group = "prod"
`, azureFakeSubscription, azureFakeTenant, azureFakeClientID, azureFakeSecret)

	targets := FirstTargetsIn(t, ns, toml, env...)["prod"]
	require.Equal(t, []model.LabelSet{azureLabels(vm1), azureLabels(vm2), azureLabels(pool0)}, targets)
	stats := fake.Stats()
	require.Positive(t, stats.Counts["next"], "the second page was never asked for")
	require.Positive(t, stats.Counts["scaleSetVMs"])
	require.Contains(t, strings.Fields(stats.Seen["scope"]), "https://management.core.windows.net//.default")

	p := StartRunner(t, toml, ns, env...)
	ms := p.GatherUntil(20*time.Second, "vm-1, vm-2 and pool_0 scraped", func(ms []telegraf.Metric) bool {
		up := Up(ms)
		return len(up) == 3 && up["127.0.0.11:9100"] == 1 && up["127.0.0.12:9100"] == 1 && up["127.0.0.13:9100"] == 1
	})
	for i, ip := range []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"} {
		require.Len(t, Find(ms, "exporter_info", map[string]string{
			"instance": ip + ":9100", "exporter": fmt.Sprintf("vm-%d", i+1), "db": "cloud", "rp": "month",
		}), 1)
	}

	// The scale set grows by pool_1 and vm-2 is deleted: the next gathers follow.
	fake.SetInstances([]azureFakeVM{vm1, dev, pool0, pool1})
	p.GatherUntil(15*time.Second, "pool_1 added and vm-2 gone", func(ms []telegraf.Metric) bool {
		up := Up(ms)
		return len(up) == 3 && up["127.0.0.11:9100"] == 1 && up["127.0.0.13:9100"] == 1 && up["127.0.0.14:9100"] == 1
	})

	// ARM answers 503: the last known targets are still scraped and the failure is logged once however
	// many refreshes fail (each refresh is the SDK's four attempts).
	fake.SetFailing(true)
	Eventually(t, 30*time.Second, "two refreshes failed", func() bool { return fake.Stats().Counts["failed"] >= 8 })
	ms = p.Gather()
	require.Equal(t, map[string]float64{"127.0.0.11:9100": 1, "127.0.0.13:9100": 1, "127.0.0.14:9100": 1}, Up(ms))
	require.Len(t, Find(ms, "exporter_info", map[string]string{"exporter": "vm-4", "db": "cloud", "rp": "month"}), 1)
	require.Equal(t, 1, cloudCountLines(p.Stderr(), "E!", "Unable to refresh target groups", "could not get virtual machines"), p.Stderr())

	// It answers again, with vm-2 back: discovery recovers and says so once.
	fake.SetFailing(false)
	fake.SetInstances([]azureFakeVM{vm1, vm2, dev, pool0, pool1})
	p.GatherUntil(20*time.Second, "all four machines scraped after ARM recovered", func(ms []telegraf.Metric) bool {
		return len(Up(ms)) == 4 && Up(ms)["127.0.0.12:9100"] == 1
	})
	require.Equal(t, 1, cloudCountLines(p.Stderr(), "discoverer recovered", "azure"), p.Stderr())
	require.Equal(t, 1, cloudCountLines(p.Stderr(), "E!", "Unable to refresh target groups"), p.Stderr())
}

// azureLabels are the labels Prometheus' Azure discovery gives a machine of the fake.
func azureLabels(vm azureFakeVM) model.LabelSet {
	labels := model.LabelSet{
		model.AddressLabel:                    model.LabelValue(vm.PrivateIP + ":9100"),
		"__meta_azure_subscription_id":        azureFakeSubscription,
		"__meta_azure_tenant_id":              azureFakeTenant,
		"__meta_azure_machine_id":             model.LabelValue(vm.ID()),
		"__meta_azure_machine_name":           model.LabelValue(vm.Name),
		"__meta_azure_machine_computer_name":  model.LabelValue(vm.Name + "-host"),
		"__meta_azure_machine_os_type":        "Linux",
		"__meta_azure_machine_location":       "westeurope",
		"__meta_azure_machine_resource_group": model.LabelValue(vm.ResourceGroup),
		"__meta_azure_machine_size":           "Standard_B1s",
		"__meta_azure_machine_private_ip":     model.LabelValue(vm.PrivateIP),
	}
	if vm.PublicIP != "" {
		labels["__meta_azure_machine_public_ip"] = model.LabelValue(vm.PublicIP)
	}
	if vm.ScaleSet != "" {
		labels["__meta_azure_machine_scale_set"] = model.LabelValue(vm.ScaleSet)
	}
	for k, v := range vm.Tags {
		labels[model.LabelName("__meta_azure_machine_tag_"+k)] = model.LabelValue(v)
	}
	return labels
}

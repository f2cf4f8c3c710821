package tests

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

func init() {
	discovererTests["gce"] = testGCE
}

// testGCE runs the runner inside a namespace whose compute.googleapis.com and oauth2.googleapis.com are
// the fake, with a service-account key file as Google's Application Default Credentials.
func testGCE(t *testing.T) {
	ns := NewNetNS(t)
	ns.WriteFile(t, "hosts", "127.0.0.1 localhost compute.googleapis.com oauth2.googleapis.com\n")
	dir := t.TempDir()
	certs := newCloudCerts(t, dir, "compute.googleapis.com", "oauth2.googleapis.com")
	credentials := writeGCEServiceAccount(t, dir)
	env := []string{"SSL_CERT_FILE=" + certs.CA, "GOOGLE_APPLICATION_CREDENTIALS=" + credentials}

	for i, ip := range []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"} {
		StartExporterIn(t, ns, fmt.Sprintf("web-%d", i+1), ip+":9100")
	}
	const project, zone = "demo", "europe-west1-b"
	web := map[string]string{"team": "web"}
	web1 := newGCEFakeInstance(project, zone, 1001, "web-1", "127.0.0.11", web)
	web2 := newGCEFakeInstance(project, zone, 1002, "web-2", "127.0.0.12", web)
	web3 := newGCEFakeInstance(project, zone, 1003, "web-3", "127.0.0.13", web)
	db := newGCEFakeInstance(project, zone, 1009, "db", "127.0.0.19", map[string]string{"team": "db"})
	elsewhere := newGCEFakeInstance(project, "europe-west1-c", 1010, "web-c", "127.0.0.20", web)
	fake := startCloudFake(t, ns, "gce-fake", certs, "DP_GCE_FAKE_KEY="+credentials)
	fake.SetInstances([]gceFakeInstance{web1, db, elsewhere, web2})

	toml := fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "gce"
    db = "cloud"
    rp = "week"
    discoverer-service = "gce"
    discoverer-id = "web"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.gce]]
    id = "web"
    project = %q
    zone = %q
    filter = 'labels.team = "web"'
    refresh-interval = "1s"
    port = 9100
    tag-separator = ";"
`, project, zone)

	targets := FirstTargetsIn(t, ns, toml, env...)["web"]
	require.Equal(t, []model.LabelSet{gceLabels(project, web1), gceLabels(project, web2)}, targets)
	stats := fake.Stats()
	require.Positive(t, stats.Counts["instances.list.next"], "the second page was never asked for")
	require.Equal(t, `labels.team = "web"`, stats.Seen["filter"])
	require.Equal(t, "https://www.googleapis.com/auth/compute.readonly", stats.Seen["scope"])

	p := StartRunner(t, toml, ns, env...)
	ms := p.GatherUntil(20*time.Second, "web-1 and web-2 scraped", func(ms []telegraf.Metric) bool {
		up := Up(ms)
		return len(up) == 2 && up["127.0.0.11:9100"] == 1 && up["127.0.0.12:9100"] == 1
	})
	for i, ip := range []string{"127.0.0.11", "127.0.0.12"} {
		require.Len(t, Find(ms, "exporter_info", map[string]string{
			"instance": ip + ":9100", "exporter": fmt.Sprintf("web-%d", i+1), "db": "cloud", "rp": "week",
		}), 1)
	}

	// web-3 created, web-2 deleted: the next gathers follow.
	fake.SetInstances([]gceFakeInstance{web1, db, elsewhere, web3})
	p.GatherUntil(15*time.Second, "web-3 added and web-2 gone", func(ms []telegraf.Metric) bool {
		up := Up(ms)
		return len(up) == 2 && up["127.0.0.11:9100"] == 1 && up["127.0.0.13:9100"] == 1
	})

	// The API answers 503: the last known targets are still scraped, the failure is logged once however
	// many refreshes fail (the client does not retry, so each failed request is one refresh).
	fake.SetFailing(true)
	Eventually(t, 15*time.Second, "two refreshes failed", func() bool { return fake.Stats().Counts["failed"] >= 2 })
	ms = p.Gather()
	require.Equal(t, map[string]float64{"127.0.0.11:9100": 1, "127.0.0.13:9100": 1}, Up(ms))
	require.Len(t, Find(ms, "exporter_info", map[string]string{"exporter": "web-3", "db": "cloud", "rp": "week"}), 1)
	require.Equal(t, 1, cloudCountLines(p.Stderr(), "E!", "Unable to refresh target groups", "Backend Error"), p.Stderr())

	// It answers again, with web-2 back: discovery recovers and says so once.
	fake.SetFailing(false)
	fake.SetInstances([]gceFakeInstance{web1, web2, db, elsewhere, web3})
	p.GatherUntil(15*time.Second, "web-1, web-2 and web-3 scraped after the API recovered", func(ms []telegraf.Metric) bool {
		up := Up(ms)
		return len(up) == 3 && up["127.0.0.11:9100"] == 1 && up["127.0.0.12:9100"] == 1 && up["127.0.0.13:9100"] == 1
	})
	require.Equal(t, 1, cloudCountLines(p.Stderr(), "discoverer recovered", "gce"), p.Stderr())
	require.Equal(t, 1, cloudCountLines(p.Stderr(), "E!", "Unable to refresh target groups"), p.Stderr())
}

// writeGCEServiceAccount writes a service-account key file whose token_uri is Google's token endpoint
// (the fake, inside the namespace).
func writeGCEServiceAccount(t *testing.T, dir string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	data, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "demo",
		"private_key_id": "fake-key-1",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "scraper@demo.iam.gserviceaccount.com",
		"client_id":      "100000000000000000001",
		"token_uri":      "https://oauth2.googleapis.com/token",
	})
	require.NoError(t, err)
	path := filepath.Join(dir, "service-account.json")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

// gceLabels are the labels Prometheus' GCE discovery gives an instance of the fake, with tag-separator ";".
func gceLabels(project string, i gceFakeInstance) model.LabelSet {
	nic := i.NetworkInterfaces[0]
	return model.LabelSet{
		model.AddressLabel:               model.LabelValue(nic.NetworkIP + ":9100"),
		"__meta_gce_project":             model.LabelValue(project),
		"__meta_gce_zone":                model.LabelValue(i.Zone),
		"__meta_gce_instance_id":         model.LabelValue(i.ID),
		"__meta_gce_instance_name":       model.LabelValue(i.Name),
		"__meta_gce_instance_status":     "RUNNING",
		"__meta_gce_machine_type":        model.LabelValue(i.MachineType),
		"__meta_gce_network":             model.LabelValue(nic.Network),
		"__meta_gce_subnetwork":          model.LabelValue(nic.Subnetwork),
		"__meta_gce_private_ip":          model.LabelValue(nic.NetworkIP),
		"__meta_gce_interface_ipv4_nic0": model.LabelValue(nic.NetworkIP),
		"__meta_gce_tags":                ";http;prom;",
		"__meta_gce_metadata_role":       "frontend",
		"__meta_gce_label_team":          model.LabelValue(i.Labels["team"]),
	}
}

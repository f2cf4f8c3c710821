package tests

import (
	"encoding/pem"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

func init() {
	discovererTests["ec2"] = testEC2
}

func testEC2(t *testing.T) {
	dir := t.TempDir()
	// The SDK must see nothing of the machine's own AWS setup. AWS_CA_BUNDLE in particular makes it refuse
	// Prometheus' HTTP client outright; a private CA goes through ssl-ca instead.
	t.Setenv("AWS_CA_BUNDLE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "no-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "no-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	// EC2 discovery scrapes one port on every instance's private IP: each exporter gets an address of its
	// own on that port.
	port := FreePort(t)
	addr := func(ip string) string { return net.JoinHostPort(ip, strconv.Itoa(port)) }
	for i, ip := range []string{"127.0.0.11", "127.0.0.12", "127.0.0.13"} {
		StartExporterOn(t, fmt.Sprintf("web-%d", i+1), addr(ip))
	}
	web1 := newEC2FakeInstance("i-0001", "127.0.0.11", map[string]string{"Name": "web-1", "team": "web"})
	web2 := newEC2FakeInstance("i-0002", "127.0.0.12", map[string]string{"Name": "web-2", "team": "web"})
	web3 := newEC2FakeInstance("i-0003", "127.0.0.13", map[string]string{"Name": "web-3", "team": "web"})
	db := newEC2FakeInstance("i-0009", "127.0.0.19", map[string]string{"Name": "db", "team": "db"})
	fake := &ec2Fake{}
	fake.set(web1, db, web2)
	server := httptest.NewTLSServer(fake.API())
	t.Cleanup(server.Close)
	ca := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: server.Certificate().Raw}), 0o644))

	toml := fmt.Sprintf(`
[[inputs.discovering_prometheus]]
  [[inputs.discovering_prometheus.scraper]]
    name = "ec2"
    db = "cloud"
    rp = "day"
    discoverer-service = "ec2"
    discoverer-id = "web"
    scrape-interval = "1s"
  [[inputs.discovering_prometheus.ec2]]
    id = "web"
    region = "us-east-1"
    access-key = "AKIDFAKEEXAMPLE"
    secret-key = "fake-secret"
    refresh-interval = "1s"
    port = %d
    endpoint = %q
    ssl-ca = %q
    [[inputs.discovering_prometheus.ec2.filters]]
      name = "tag:team"
      values = ["web"]
`, port, server.URL, ca)

	// The labels relabeling sees, from Prometheus' EC2 discovery made from this section's SDConfig().
	targets, err := FirstTargets(SDConfig(t, toml), 20*time.Second)
	require.NoError(t, err)
	require.Equal(t, []model.LabelSet{ec2Labels(web1, addr(web1.PrivateIP)), ec2Labels(web2, addr(web2.PrivateIP))}, targets)
	stats := fake.snapshot()
	require.Positive(t, stats.Counts["DescribeInstances.next"], "the second page was never asked for")
	require.Equal(t, "tag:team=web", stats.Seen["filter"])
	require.Contains(t, stats.Seen["authorization"], "Credential=AKIDFAKEEXAMPLE/")
	require.Contains(t, stats.Seen["authorization"], "/us-east-1/ec2/aws4_request")
	require.Zero(t, stats.Counts["SignatureDoesNotMatch"], "the fake rejected a signature made with the right key")

	// A wrong secret key signs every request wrongly: the fake, checking each signature with the SDK's
	// signer, rejects them as EC2 does, discovery yields nothing and the plugin logs why.
	t.Run("wrong secret key", func(t *testing.T) {
		before := fake.snapshot().Counts["SignatureDoesNotMatch"]
		wrong := strings.Replace(toml, `secret-key = "fake-secret"`, `secret-key = "not-the-secret"`, 1)
		require.NotEqual(t, toml, wrong)
		_, err := FirstTargets(SDConfig(t, wrong), 5*time.Second)
		require.Error(t, err, "discovery succeeded with a wrong secret key")
		require.Greater(t, fake.snapshot().Counts["SignatureDoesNotMatch"], before, "the fake never rejected a signature")

		r := StartPlugin(t, wrong)
		Eventually(t, 20*time.Second, "a refresh failed with SignatureDoesNotMatch", func() bool {
			return CountLog(r.Log, 'E', "Unable to refresh target groups", "SignatureDoesNotMatch") > 0
		})
		require.Empty(t, Up(r.Gather()), "targets scraped with a wrong secret key")
	})

	r := StartPlugin(t, toml)
	ms := r.GatherUntil(15*time.Second, "web-1 and web-2 scraped", func(ms []telegraf.Metric) bool {
		return len(Up(ms)) == 2 && Up(ms)[addr("127.0.0.11")] == 1 && Up(ms)[addr("127.0.0.12")] == 1
	})
	for i, ip := range []string{"127.0.0.11", "127.0.0.12"} {
		require.Len(t, Find(ms, "exporter_info", map[string]string{
			"instance": addr(ip), "exporter": fmt.Sprintf("web-%d", i+1), "db": "cloud", "rp": "day",
		}), 1)
	}

	// web-3 launched, web-2 terminated: the next gathers follow.
	fake.set(web1, db, web3)
	r.GatherUntil(15*time.Second, "web-3 added and web-2 gone", func(ms []telegraf.Metric) bool {
		up := Up(ms)
		return len(up) == 2 && up[addr("127.0.0.11")] == 1 && up[addr("127.0.0.13")] == 1
	})

	// The API fails: the last known targets are still scraped and the failure is logged once, however
	// many refreshes fail (each refresh is the SDK's three attempts).
	fake.setFailing(true)
	Eventually(t, 30*time.Second, "two refreshes failed", func() bool { return fake.snapshot().Counts["failed"] >= 6 })
	ms = r.Gather()
	require.Equal(t, map[string]float64{addr("127.0.0.11"): 1, addr("127.0.0.13"): 1}, Up(ms))
	require.Len(t, Find(ms, "exporter_info", map[string]string{"exporter": "web-3", "db": "cloud", "rp": "day"}), 1)
	require.Equal(t, 1, CountLog(r.Log, 'E', "Unable to refresh target groups", "could not describe instances"), "%v", r.Log.Messages())

	// It answers again, with web-2 back: discovery recovers and says so once.
	fake.setFailing(false)
	fake.set(web1, web2, db, web3)
	r.GatherUntil(20*time.Second, "web-1, web-2 and web-3 scraped after the API recovered", func(ms []telegraf.Metric) bool {
		up := Up(ms)
		return len(up) == 3 && up[addr("127.0.0.11")] == 1 && up[addr("127.0.0.12")] == 1 && up[addr("127.0.0.13")] == 1
	})
	require.Equal(t, 1, CountLog(r.Log, 'I', "discoverer recovered", "ec2"), "%v", r.Log.Messages())
	require.Equal(t, 1, CountLog(r.Log, 'E', "Unable to refresh target groups"), "%v", r.Log.Messages())
}

// ec2Labels are the labels Prometheus' EC2 discovery gives an instance of the fake.
func ec2Labels(i ec2FakeInstance, address string) model.LabelSet {
	labels := model.LabelSet{
		model.AddressLabel:                model.LabelValue(address),
		"__meta_ec2_ami":                  "ami-0abc",
		"__meta_ec2_architecture":         "x86_64",
		"__meta_ec2_availability_zone":    "us-east-1a",
		"__meta_ec2_availability_zone_id": "use1-az4",
		"__meta_ec2_instance_id":          model.LabelValue(i.ID),
		"__meta_ec2_instance_state":       "running",
		"__meta_ec2_instance_type":        "t3.micro",
		"__meta_ec2_owner_id":             "123456789012",
		"__meta_ec2_primary_subnet_id":    "subnet-1",
		"__meta_ec2_private_dns_name":     model.LabelValue(i.PrivateDNS),
		"__meta_ec2_private_ip":           model.LabelValue(i.PrivateIP),
		"__meta_ec2_region":               "us-east-1",
		"__meta_ec2_subnet_id":            ",subnet-1,",
		"__meta_ec2_vpc_id":               "vpc-1",
	}
	for k, v := range i.TagMap {
		labels[model.LabelName("__meta_ec2_tag_"+k)] = model.LabelValue(v)
	}
	return labels
}

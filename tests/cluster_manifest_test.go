package tests

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/influxdata/telegraf/testutil"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	plugin "github.com/discovering-prometheus/discovering-prometheus/plugins/inputs/discovering_prometheus"
)

// The sharded manifest's peers, against the Kubernetes fake: role pod lists a replica's every container
// port, a bare IP for a container without one (a sidecar) and a replica in CrashLoopBackOff too; the
// manifest's relabel-configs leave one peer per ready replica, so that the two running replicas, each
// with the manifest's configuration and its own POD_IP, own every annotated pod exactly once between them.
func TestClusterShardedManifestPeers(t *testing.T) {
	f := startKubernetesFake(t, kubernetesToken)
	var conf string
	for _, o := range decodeManifests(t, "../deploy/kubernetes/sharded.yaml") {
		if cm, ok := o.(*corev1.ConfigMap); ok {
			conf = cm.Data["telegraf.conf"]
		}
	}
	require.Contains(t, conf, "in-cluster = true")
	conf = strings.ReplaceAll(conf, "in-cluster = true", kubernetesServer(f))

	replica := func(name, ip string, ready bool, containers ...corev1.Container) *corev1.Pod {
		status := corev1.ConditionTrue
		var statuses []corev1.ContainerStatus
		for _, c := range containers {
			statuses = append(statuses, corev1.ContainerStatus{Name: c.Name, ContainerID: "containerd://" + name + c.Name, Ready: ready})
		}
		if !ready {
			status = corev1.ConditionFalse
			statuses[0].State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}
		}
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "monitoring", Name: name, UID: types.UID("uid-" + name),
				Labels: map[string]string{"app.kubernetes.io/name": "discovering-prometheus-sharded"}},
			Spec: corev1.PodSpec{NodeName: "node-1", Containers: containers},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, HostIP: "10.9.0.1",
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}, ContainerStatuses: statuses},
		}
	}
	port := func(name string, n int32) []corev1.ContainerPort {
		return []corev1.ContainerPort{{Name: name, ContainerPort: n, Protocol: corev1.ProtocolTCP}}
	}
	telegraf := corev1.Container{Name: "telegraf", Image: "discovering-prometheus:latest", Ports: port("peer", 9273)}
	withStatus := telegraf
	withStatus.Ports = append(port("status", 8080), telegraf.Ports...)
	f.Apply(
		replica("sharded-0", "10.0.0.1", true, withStatus, corev1.Container{Name: "log-shipper", Image: "shipper"}),
		replica("sharded-1", "10.0.0.2", true, telegraf, corev1.Container{Name: "envoy", Image: "envoy", Ports: port("admin", 15000)}),
		replica("sharded-2", "10.0.0.3", false, telegraf),
	)
	const apps = 30
	for i := range apps {
		name := fmt.Sprintf("app-%d", i)
		f.Apply(&corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID("uid-" + name),
				Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "1"}},
			Spec: corev1.PodSpec{NodeName: "node-1", Containers: []corev1.Container{{Name: "app", Image: "app", Ports: port("metrics", 1)}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1", HostIP: "127.0.0.1", // nothing listens on port 1
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
		})
	}

	peers := []string{"10.0.0.1:9273", "10.0.0.2:9273"}
	scrapedBy := map[string][]string{} // pod: the replicas that scrape it
	for _, self := range peers {
		t.Setenv("POD_IP", strings.TrimSuffix(self, ":9273"))
		c := config.NewConfig()
		require.NoError(t, c.LoadConfigData([]byte(conf), "sharded.yaml"))
		var p *plugin.DiscoveringPrometheus
		for _, input := range c.Inputs {
			if in, ok := input.Input.(*plugin.DiscoveringPrometheus); ok {
				p = in
			}
		}
		require.NotNil(t, p)
		p.Log = testutil.Logger{Name: self}
		require.NoError(t, p.Init())
		require.NoError(t, p.Start(&testutil.Accumulator{}))
		t.Cleanup(p.Stop)
		var targets plugin.Targets
		require.Eventually(t, func() bool {
			require.NoError(t, p.Gather(&testutil.Accumulator{}))
			targets = p.Targets()
			return len(targets.Active) == apps && len(targets.Active[0].Owners) == 1 && targets.Cluster.Listed
		}, 30*time.Second, 100*time.Millisecond, "%s: its targets and peers", self)
		require.Empty(t, targets.Cluster.Error)
		for _, a := range targets.Active {
			require.Len(t, a.Owners, 1)
			require.Contains(t, peers, a.Owners[0], "pod %s is owned by a running replica's peer port", a.Labels["pod"])
			require.Equal(t, a.Owners[0] == self, a.ScrapedHere)
			if a.ScrapedHere {
				scrapedBy[a.Labels["pod"]] = append(scrapedBy[a.Labels["pod"]], self)
			}
		}
	}
	require.Len(t, scrapedBy, apps, "every pod is scraped")
	for pod, by := range scrapedBy {
		require.Len(t, by, 1, "pod %s has one owner: %v", pod, by)
	}
}

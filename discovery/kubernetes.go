package discovery

import (
	"log/slog"
	"sync/atomic"

	"github.com/influxdata/telegraf/config"

	"github.com/discovering-prometheus/discovering-prometheus/internal/httpconfig"
)

// Kubernetes is a [[kubernetes]] section: targets watched through the Kubernetes API, with Kapacitor's keys
// and the options of Prometheus' kubernetes_sd_configs under kebab-case names.
type Kubernetes struct {
	Common
	InCluster  bool          `toml:"in-cluster"`
	APIServers []string      `toml:"api-servers"`
	Token      config.Secret `toml:"token"`
	CAPath     string        `toml:"ca-path"`
	Namespace  string        `toml:"namespace"`
	// Resource is Kapacitor's name for role.
	Resource string `toml:"resource"`

	Role            string                   `toml:"role"`
	Namespaces      []string                 `toml:"namespaces"`
	OwnNamespace    bool                     `toml:"own-namespace"`
	Selectors       []KubernetesSelector     `toml:"selectors"`
	KubeconfigFile  string                   `toml:"kubeconfig-file"`
	BearerTokenFile string                   `toml:"bearer-token-file"`
	AttachMetadata  KubernetesAttachMetadata `toml:"attach-metadata"`
	httpconfig.Auth
	httpconfig.TLS
}

// KubernetesSelector limits the objects of one role that are watched, as the API's label and field
// selectors do (e.g. label = "app=web", field = "spec.nodeName=n1").
type KubernetesSelector struct {
	Role  string `toml:"role"`
	Label string `toml:"label"`
	Field string `toml:"field"`
}

// KubernetesAttachMetadata adds the labels of related objects to each target (node: the node a pod runs
// on; namespace: its namespace; deployment, job, cronjob: a pod's owners).
type KubernetesAttachMetadata struct {
	Node       bool `toml:"node"`
	Namespace  bool `toml:"namespace"`
	Deployment bool `toml:"deployment"`
	Job        bool `toml:"job"`
	CronJob    bool `toml:"cronjob"`
}

// Service implements Provider.
func (*Kubernetes) Service() string { return "kubernetes" }

// kubeClientLog is where the records of client-go go that are no kubernetes discoverer's failure.
var kubeClientLog atomic.Pointer[slog.Handler]

// SetKubernetesClientLog says where the records of client-go (the Kubernetes client of the kubernetes
// discoverers) go that are no discoverer's failure: client-go logs through klog, which is process-wide, so
// they belong to no section's log. The plugin decides how such a line looks in its process's log. Until it
// is set, they go to slog's default logger.
func SetKubernetesClientLog(h slog.Handler) { kubeClientLog.Store(&h) }

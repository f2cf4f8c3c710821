package discovering_prometheus

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/influxdata/telegraf/config"
	"github.com/prometheus/prometheus/discovery/targetgroup"

	"github.com/discovering-prometheus/discovering-prometheus/cluster"
	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/internal/status"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// Cluster is the [inputs.discovering_prometheus.cluster] table: the instances that share the targets are
// the targets of one discoverer, plus this one. Each target belongs to ReplicationFactor of them, chosen by
// rendezvous hashing of the scraper's name and the target's labels, which every instance computes alike;
// an instance scrapes only the targets it owns. The cluster package runs it; the plugin wires it.
type Cluster struct {
	DiscovererService string `toml:"discoverer-service"`
	DiscovererID      string `toml:"discoverer-id"`
	// Self is this instance as the discoverer lists it (its __address__); by default the host's primary
	// address with port 9273 (cluster.DefaultSelf).
	Self              string `toml:"self"`
	ReplicationFactor *int   `toml:"replication-factor"`
	// Register keeps this instance listed by the discoverer, if it keeps members (cluster.Registrar).
	Register bool `toml:"register"`
	// ACL, "user:password", makes the registered member znode that digest identity's to change and
	// everyone's to read.
	ACL config.Secret `toml:"acl"`
	// EmptyPeersAfter is how long an empty answer of the peer discoverer, once it listed peers, keeps the
	// last peers before this instance shares with no one.
	EmptyPeersAfter config.Duration `toml:"empty-peers-after"`
	// RelabelConfigs filter and rewrite the peer discoverer's targets before their __address__ names a
	// peer, as a scraper's do its targets; without them, the targets on another port than self's are dropped.
	RelabelConfigs []*scrape.Relabel `toml:"relabel-configs"`
}

// key names the peer discoverer, as a scraper's discoverer-service and discoverer-id name one.
func (c *Cluster) key() discovery.Key {
	return discovery.Key{Service: c.DiscovererService, ID: c.DiscovererID}
}

// initCluster checks the cluster table and applies its defaults; errors name the key.
func (p *DiscoveringPrometheus) initCluster() []error {
	c := p.Cluster
	if c == nil {
		return nil
	}
	var errs []error
	key := c.key()
	if _, ok := p.configs[key]; !ok && !p.hasSection(key) { // an invalid section has its own error already
		errs = append(errs, errors.New(p.unknownDiscoverer(key)))
	}
	if c.Self == "" {
		self, err := cluster.DefaultSelf()
		if err != nil {
			errs = append(errs, fmt.Errorf("self: no address to default to (%w); set it", err))
		}
		c.Self = self
	} else if strings.TrimSpace(c.Self) != c.Self {
		errs = append(errs, fmt.Errorf("self: %q has spaces around it", c.Self))
	}
	if _, err := scrape.RelabelConfigs("relabel-configs", c.RelabelConfigs); err != nil {
		errs = append(errs, err)
	}
	if c.EmptyPeersAfter < 0 {
		errs = append(errs, fmt.Errorf("empty-peers-after: %s is negative", time.Duration(c.EmptyPeersAfter)))
	}
	if c.EmptyPeersAfter == 0 {
		c.EmptyPeersAfter = config.Duration(cluster.DefaultEmptyPeersAfter(p.configs[key]))
	}
	if c.ReplicationFactor == nil {
		c.ReplicationFactor = new(int)
		*c.ReplicationFactor = 1
	} else if *c.ReplicationFactor < 1 {
		errs = append(errs, fmt.Errorf("replication-factor: %d is less than 1", *c.ReplicationFactor))
	}
	if c.Register {
		if err := cluster.CheckRegister(p.peerDiscoverer(key), key.String(), c.Self); err != nil {
			errs = append(errs, err)
		}
	} else if !c.ACL.Empty() {
		errs = append(errs, errors.New("acl: only with register = true"))
	}
	for i, err := range errs {
		errs[i] = fmt.Errorf("cluster: %w", err)
	}
	return errs
}

// peerDiscoverer is the enabled discoverer section of key, nil without one.
func (p *DiscoveringPrometheus) peerDiscoverer(key discovery.Key) discovery.Provider {
	for _, provider := range p.Providers() {
		if provider.IsEnabled() && discovery.KeyOf(provider) == key {
			return provider
		}
	}
	return nil
}

// startCluster starts the cluster, if there is a cluster table, and registers this instance if asked to.
func (p *DiscoveringPrometheus) startCluster() error {
	c := p.Cluster
	if c == nil {
		return nil
	}
	digest, err := c.digest()
	if err != nil {
		return err
	}
	key := c.key()
	rules, err := scrape.RelabelConfigs("cluster: relabel-configs", c.RelabelConfigs) // Init checked them
	if err != nil {
		return err
	}
	cl := cluster.New(cluster.Config{
		Peers:           key.String(),
		Self:            c.Self,
		Replication:     *c.ReplicationFactor,
		Register:        c.Register,
		EmptyPeersAfter: time.Duration(c.EmptyPeersAfter),
		Rules:           rules,
	}, func() []*targetgroup.Group { return p.sd.Groups(key) }, p.Log)
	if c.Register && p.oneShot {
		// A debugging run reads the peers but does not join them: its registration would reshard the
		// cluster twice, on joining and on leaving a moment later.
		p.Log.Infof("cluster: a one-shot run does not register %q in %s", c.Self, key)
	} else if r, ok := p.peerDiscoverer(key).(cluster.Registrar); ok && c.Register {
		cl.Register(r, digest, p.logger.With("cluster", key.String()))
	}
	p.mu.Lock()
	p.cluster = cl
	p.mu.Unlock()
	return nil
}

// digest reads acl, a secret that may come from a store, when it is set: "user:password", user not empty.
func (c *Cluster) digest() (string, error) {
	if c.ACL.Empty() {
		return "", nil
	}
	secret, err := c.ACL.Get()
	if err != nil {
		return "", fmt.Errorf("cluster: acl: %w", err)
	}
	defer secret.Destroy()
	digest := secret.String()
	if user, _, ok := strings.Cut(digest, ":"); !ok || user == "" {
		return "", errors.New(`cluster: acl: not "user:password"`) // the secret itself is not shown
	}
	return digest, nil
}

// OneShot marks a debugging run (the runner's -once and -targets, Telegraf's --once and --test), which
// gathers once and exits: it never registers in the cluster. Call it before Start. A plugin cannot learn
// Telegraf's flags by itself: the runner and this project's Telegraf call it; another Telegraf build cannot.
func (p *DiscoveringPrometheus) OneShot() { p.oneShot = true }

// stopCluster ends the registration, whose znode goes with its session.
func (p *DiscoveringPrometheus) stopCluster() {
	if p.cluster != nil {
		p.cluster.Stop()
	}
}

// membership is this instance's standing in the cluster, for the status page and -targets; nil without a
// cluster table.
func (p *DiscoveringPrometheus) membership() *status.ClusterMember {
	_, _, c := p.running()
	if c == nil {
		return nil
	}
	return c.Member()
}

// ownersOf names the instances that own a target, highest weight first; none without a cluster table.
func (p *DiscoveringPrometheus) ownersOf(s *scrape.Scraper, t *scrape.Target) []string {
	_, _, c := p.running()
	if c == nil {
		return nil
	}
	return c.Owners(s.Name(), t.Labels)
}

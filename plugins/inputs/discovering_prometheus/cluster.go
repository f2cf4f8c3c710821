package discovering_prometheus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/influxdata/telegraf/selfstat"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/internal/rendezvous"
	"github.com/discovering-prometheus/discovering-prometheus/internal/safetext"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// Cluster is the [inputs.discovering_prometheus.cluster] table: the instances that share the targets are
// the targets of one discoverer, plus this one. Each target belongs to ReplicationFactor of them, chosen by
// rendezvous hashing of the scraper's name and the target's labels, which every instance computes alike;
// an instance scrapes only the targets it owns.
type Cluster struct {
	DiscovererService string `toml:"discoverer-service"`
	DiscovererID      string `toml:"discoverer-id"`
	// Self is this instance as the discoverer lists it (its __address__); the host name by default.
	Self              string `toml:"self"`
	ReplicationFactor *int   `toml:"replication-factor"`
	// Register keeps this instance listed by the discoverer (serverset and nerve only).
	Register bool `toml:"register"`
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
		host, err := os.Hostname()
		if err != nil {
			errs = append(errs, fmt.Errorf("self: no host name to default to (%w); set it", err))
		}
		c.Self = host
	} else if strings.TrimSpace(c.Self) != c.Self {
		errs = append(errs, fmt.Errorf("self: %q has spaces around it", c.Self))
	}
	if c.ReplicationFactor == nil {
		c.ReplicationFactor = new(int)
		*c.ReplicationFactor = 1
	} else if *c.ReplicationFactor < 1 {
		errs = append(errs, fmt.Errorf("replication-factor: %d is less than 1", *c.ReplicationFactor))
	}
	if c.Register {
		if _, ok := p.registrar(key); !ok && slices.Contains(discovery.Services, key.Service) {
			errs = append(errs, fmt.Errorf("register: only serverset and nerve list instances, not %s", key.Service))
		}
		if _, _, err := discovery.SplitMember(c.Self); err != nil {
			errs = append(errs, fmt.Errorf("register: self %q is not the host:port of a member: %w", c.Self, err))
		}
	}
	for i, err := range errs {
		errs[i] = fmt.Errorf("cluster: %w", err)
	}
	return errs
}

// registrar is the enabled discoverer section of key, if it can register members.
func (p *DiscoveringPrometheus) registrar(key discovery.Key) (discovery.Registrar, bool) {
	for _, provider := range p.Providers() {
		if r, ok := provider.(discovery.Registrar); ok && provider.IsEnabled() && discovery.KeyOf(provider) == key {
			return r, true
		}
	}
	return nil, false
}

// cluster is the running state of the cluster table: the current peers and every target's owners.
type cluster struct {
	key  discovery.Key
	self string
	r    int

	peersKnown, targetsOwned selfstat.Stat
	cancel                   context.CancelFunc
	registered               sync.WaitGroup

	listed int // how many times the peer discoverer listed self at the last assignOwners

	mu     sync.Mutex // guards peers and owners for readers outside Gather (Targets)
	peers  *rendezvous.Peers
	owners map[*scrape.Target][]int // indexes into peers
}

// startCluster prepares the cluster state, if there is a cluster table, and registers this instance if
// asked to.
func (p *DiscoveringPrometheus) startCluster() {
	c := p.Cluster
	if c == nil {
		return
	}
	key := c.key()
	tags := map[string]string{"cluster_service": key.Service, "cluster_id": key.ID}
	cl := &cluster{
		key:          key,
		self:         c.Self,
		r:            *c.ReplicationFactor,
		peersKnown:   p.stats.collector.Register(statsMeasurement, "peers", tags),
		targetsOwned: p.stats.collector.Register(statsMeasurement, "targets_owned", tags),
		peers:        rendezvous.New(c.Self),
	}
	ctx, cancel := context.WithCancel(context.Background())
	cl.cancel = cancel
	if r, ok := p.registrar(key); ok && c.Register {
		cl.registered.Add(1)
		go func() {
			defer cl.registered.Done()
			r.Register(ctx, c.Self, p.logger.With("cluster", key.String()))
		}()
	}
	p.mu.Lock()
	p.cluster = cl
	p.mu.Unlock()
}

// stopCluster ends the registration, whose znode goes with its session.
func (p *DiscoveringPrometheus) stopCluster() {
	if p.cluster != nil {
		p.cluster.cancel()
		p.cluster.registered.Wait()
	}
}

// assignOwners recomputes the peers and every target's owners, and marks the targets this instance
// scrapes. The peers are the peer discoverer's current targets plus self: before that discoverer answers,
// and alone, this instance owns every target.
func (p *DiscoveringPrometheus) assignOwners() {
	c := p.cluster
	if c == nil {
		return
	}
	names := []string{c.self}
	listed := 0
	for _, g := range p.sd.Groups(c.key) {
		for _, t := range g.Targets {
			addr, ok := t[model.AddressLabel]
			if !ok {
				addr = g.Labels[model.AddressLabel]
			}
			if addr != "" {
				names = append(names, string(addr))
			}
			if string(addr) == c.self {
				listed++
			}
		}
	}
	peers := rendezvous.New(names...)
	if !slices.Equal(peers.Names(), c.peers.Names()) {
		// The addresses come from discovery: quoted, and the line bounded.
		p.Log.Info(safetext.Line(fmt.Sprintf("cluster: %d instances share the targets: %q", peers.Len(), peers.Names()), MaxLogLine))
		// One that registers itself is missing from the list until its registration is seen.
		if len(names) > 1 && listed == 0 && !p.Cluster.Register {
			p.Log.Warnf("cluster: self %q is not among the instances %s lists: the others leave it no target, and it scrapes some of theirs", c.self, c.key)
		}
	}
	// Peers are names, so two instances with one self are one peer to everyone: both scrape its targets.
	if listed > 1 && listed != c.listed {
		p.Log.Warnf("cluster: %s lists self %q %d times: every instance that runs as %q scrapes the same targets (duplicates); give each its own self", c.key, c.self, listed, c.self)
	}
	c.listed = listed
	self := peers.Index(c.self)
	owners := make(map[*scrape.Target][]int, len(c.owners))
	var all []int
	var d xxhash.Digest
	owned := 0
	for _, s := range p.scrapers {
		name := s.Config().Name
		for _, t := range s.Targets() {
			start := len(all)
			all = peers.Owners(all, targetKey(&d, name, t.Labels), c.r)
			here := slices.Contains(all[start:], self)
			t.SetScrapedHere(here)
			owners[t] = all[start:len(all):len(all)]
			if here {
				owned++
			}
		}
	}
	c.mu.Lock()
	c.peers, c.owners = peers, owners
	c.mu.Unlock()
	c.peersKnown.Set(int64(peers.Len()))
	c.targetsOwned.Set(int64(owned))
}

// targetKey is what identifies a target alike on every instance: its scraper's name and its labels after
// relabeling.
func targetKey(d *xxhash.Digest, scraper string, ls labels.Labels) uint64 {
	d.Reset()
	_, _ = d.WriteString(scraper)
	ls.Range(func(l labels.Label) {
		_, _ = d.Write(keySep)
		_, _ = d.WriteString(l.Name)
		_, _ = d.Write(keySep)
		_, _ = d.WriteString(l.Value)
	})
	return d.Sum64()
}

var keySep = []byte{0xff} // in no valid UTF-8 string

// ownersOf names the instances that own a target, highest weight first; none without a cluster table.
func (p *DiscoveringPrometheus) ownersOf(t *scrape.Target) []string {
	c := p.cluster
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var names []string
	for _, i := range c.owners[t] {
		names = append(names, c.peers.Name(i))
	}
	return names
}

package discovering_prometheus

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/influxdata/telegraf"
	"github.com/influxdata/telegraf/config"
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
	// ACL, "user:password", makes the registered member znode that digest identity's to change and
	// everyone's to read.
	ACL config.Secret `toml:"acl"`
	// EmptyPeersAfter is how long an empty answer of the peer discoverer, once it listed peers, keeps the
	// last peers before this instance shares with no one.
	EmptyPeersAfter config.Duration `toml:"empty-peers-after"`
}

// defaultEmptyPeersAfter is empty-peers-after for a peer discoverer without a refresh interval (a watch).
const defaultEmptyPeersAfter = 5 * time.Minute

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
	if c.EmptyPeersAfter < 0 {
		errs = append(errs, fmt.Errorf("empty-peers-after: %s is negative", time.Duration(c.EmptyPeersAfter)))
	}
	if c.EmptyPeersAfter == 0 {
		c.EmptyPeersAfter = config.Duration(defaultEmptyPeersAfter)
		if every, ok := refreshInterval(p.configs[key]); ok {
			c.EmptyPeersAfter = config.Duration(3 * every)
		}
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
	} else if !c.ACL.Empty() {
		errs = append(errs, errors.New("acl: only with register = true"))
	}
	for i, err := range errs {
		errs[i] = fmt.Errorf("cluster: %w", err)
	}
	return errs
}

// refreshInterval is how often a discoverer asks again, for the kinds that poll (file, dns, consul, the
// clouds): each Prometheus SD configuration of those has a RefreshInterval. The watching kinds have none.
func refreshInterval(cfg any) (time.Duration, bool) {
	v := reflect.Indirect(reflect.ValueOf(cfg))
	if v.Kind() != reflect.Struct {
		return 0, false
	}
	field, ok := v.Type().FieldByName("RefreshInterval")
	if !ok {
		return 0, false
	}
	f, err := v.FieldByIndexErr(field.Index) // through an embedded pointer, which may be nil
	if err != nil || !f.CanInterface() {
		return 0, false
	}
	d, ok := f.Interface().(model.Duration)
	return time.Duration(d), ok && d > 0
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

	peersKnown, targetsOwned, peersStale atomic.Int64 // for the self-metrics (selfmetrics.go)
	cancel                               context.CancelFunc
	registered                           sync.WaitGroup

	listed int // how many times the peer discoverer listed self at the last assignOwners

	// The last peers the discoverer listed, kept through an empty answer for emptyAfter; emptySince is
	// when that answer came, zero while it lists peers.
	last       []string
	emptySince time.Time
	emptyAfter time.Duration

	mu     sync.Mutex // guards peers and owners for readers outside Gather (Targets)
	peers  *rendezvous.Peers
	owners map[*scrape.Target][]int // indexes into peers
}

// startCluster prepares the cluster state, if there is a cluster table, and registers this instance if
// asked to.
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
	cl := &cluster{
		key:        key,
		self:       c.Self,
		r:          *c.ReplicationFactor,
		peers:      rendezvous.New(c.Self),
		emptyAfter: time.Duration(c.EmptyPeersAfter),
	}
	ctx, cancel := context.WithCancel(context.Background())
	cl.cancel = cancel
	if c.Register && p.oneShot {
		// A debugging run reads the peers but does not join them: its registration would reshard the
		// cluster twice, on joining and on leaving a moment later.
		p.Log.Infof("cluster: a one-shot run does not register %q in %s", c.Self, key)
	} else if r, ok := p.registrar(key); ok && c.Register {
		cl.registered.Add(1)
		go func() {
			defer cl.registered.Done()
			r.Register(ctx, c.Self, digest, p.logger.With("cluster", key.String()))
		}()
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
	var discovered []string
	listed := 0
	for _, g := range p.sd.Groups(c.key) {
		for _, t := range g.Targets {
			addr, ok := t[model.AddressLabel]
			if !ok {
				addr = g.Labels[model.AddressLabel]
			}
			if addr != "" {
				discovered = append(discovered, string(addr))
			}
			if string(addr) == c.self {
				listed++
			}
		}
	}
	names := append([]string{c.self}, c.current(discovered, time.Now(), p.Log)...)
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
	c.peersKnown.Store(int64(peers.Len()))
	c.targetsOwned.Store(int64(owned))
}

// current returns the peers discovered or, when the answer is empty after peers were listed, the last ones
// listed, until emptyAfter has passed: an emptied file, a DNS name with no ready pod or a Consul service with
// no healthy instance would otherwise make every instance scrape every target at once. The instances then
// fall back one after another, each later by its rank among the last peers (up to twice emptyAfter).
func (c *cluster) current(discovered []string, now time.Time, log telegraf.Logger) []string {
	if len(discovered) > 0 {
		if !c.emptySince.IsZero() {
			log.Infof("cluster: %s lists instances again", c.key)
		}
		c.last, c.emptySince = discovered, time.Time{}
		c.peersStale.Store(0)
		return discovered
	}
	if c.last == nil { // never listed, or given up on: alone
		return nil
	}
	if c.emptySince.IsZero() {
		c.emptySince = now
		log.Warnf("cluster: %s lists no instance: keeping the last %d for up to %s (empty-peers-after) before scraping every target",
			c.key, rendezvous.New(c.last...).Len(), c.fallbackIn())
	}
	if now.Sub(c.emptySince) < c.fallbackIn() {
		c.peersStale.Store(1)
		return c.last
	}
	log.Warnf("cluster: %s has listed no instance for %s (empty-peers-after): scraping every target", c.key, c.fallbackIn())
	c.last, c.emptySince = nil, time.Time{}
	c.peersStale.Store(0)
	return nil
}

// fallbackIn is how long this instance keeps the last peers through an empty answer: emptyAfter, plus its
// rank among the last peers (by address) times emptyAfter over their number, so that not all instances
// take every target at the same moment.
func (c *cluster) fallbackIn() time.Duration {
	names := rendezvous.New(append([]string{c.self}, c.last...)...).Names() // sorted, each once
	rank := max(slices.Index(names, c.self), 0)
	return c.emptyAfter + time.Duration(rank)*c.emptyAfter/time.Duration(len(names))
}

// fallbackDue tells whether the last peers kept through an empty answer have expired: the owners are then
// recomputed without news from discovery.
func (c *cluster) fallbackDue(now time.Time) bool {
	return c != nil && !c.emptySince.IsZero() && now.Sub(c.emptySince) >= c.fallbackIn()
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

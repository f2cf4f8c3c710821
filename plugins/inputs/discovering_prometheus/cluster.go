package discovering_prometheus

import (
	"context"
	"errors"
	"fmt"
	"net"
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
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/discovering-prometheus/discovering-prometheus/discovery"
	"github.com/discovering-prometheus/discovering-prometheus/internal/rendezvous"
	"github.com/discovering-prometheus/discovering-prometheus/internal/safetext"
	"github.com/discovering-prometheus/discovering-prometheus/internal/status"
	"github.com/discovering-prometheus/discovering-prometheus/scrape"
)

// Cluster is the [inputs.discovering_prometheus.cluster] table: the instances that share the targets are
// the targets of one discoverer, plus this one. Each target belongs to ReplicationFactor of them, chosen by
// rendezvous hashing of the scraper's name and the target's labels, which every instance computes alike;
// an instance scrapes only the targets it owns.
type Cluster struct {
	DiscovererService string `toml:"discoverer-service"`
	DiscovererID      string `toml:"discoverer-id"`
	// Self is this instance as the discoverer lists it (its __address__); by default the host's primary
	// address with port 9273 (defaultSelf).
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
	// RelabelConfigs filter and rewrite the peer discoverer's targets before their __address__ names a
	// peer, as a scraper's do its targets; without them, the targets on another port than self's are dropped.
	RelabelConfigs []*scrape.Relabel `toml:"relabel-configs"`
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
		self, err := defaultSelf()
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

// defaultSelfPort is the port of the default self: the one the sharded manifest lists its replicas with
// (deploy/kubernetes/sharded.yaml: each pod's IP and its container port "peer", 9273, Telegraf's
// prometheus_client port), so that an instance run that way is a member without setting self.
const defaultSelfPort = "9273"

// defaultSelf is this host's primary address, the one its default route leaves from (in Kubernetes the
// pod's IP, which the kubernetes and dns peer discoverers list), with defaultSelfPort. A host name would not
// do: no peer discoverer of the manifests lists one, nor a port. Finding the route sends nothing (a UDP
// socket is only connected); without one, the first global unicast address of an interface, IPv4 first.
func defaultSelf() (string, error) {
	if conn, err := net.Dial("udp", "192.0.2.1:9"); err == nil { // TEST-NET-1: a route, never a packet
		ip := conn.LocalAddr().(*net.UDPAddr).IP
		_ = conn.Close()
		if ip.IsGlobalUnicast() {
			return net.JoinHostPort(ip.String(), defaultSelfPort), nil
		}
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	var found net.IP
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.IsGlobalUnicast() && (found == nil || found.To4() == nil && n.IP.To4() != nil) {
			found = n.IP
		}
	}
	if found == nil {
		return "", errors.New("no interface has a global unicast address")
	}
	return net.JoinHostPort(found.String(), defaultSelfPort), nil
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
	key      discovery.Key
	self     string
	r        int
	register bool
	rules    []*relabel.Config // relabel-configs; without them, the port filter of selfPort
	selfPort string            // self's port; "" for a self without one, which filters nothing

	peersKnown, targetsOwned, peersStale, selfListed atomic.Int64 // for the self-metrics (selfmetrics.go)
	cancel                                           context.CancelFunc
	registered                                       sync.WaitGroup

	listed  int      // how many times the peer discoverer listed self at the last assignOwners
	dropped []string // the peer discoverer's targets the port filter dropped at the last assignOwners

	// While the peer discoverer lists instances but not self: since when, and when to say it again.
	unlistedSince, remindAt time.Time

	// The last peers the discoverer listed, kept through an empty answer for emptyAfter; emptySince is
	// when that answer came, zero while it lists peers.
	last       []string
	emptySince time.Time
	emptyAfter time.Duration

	mu       sync.Mutex // guards peers, owners and unlisted for readers outside Gather (Targets)
	peers    *rendezvous.Peers
	owners   map[*scrape.Target][]int // indexes into peers
	unlisted string                   // the error while self is not listed, for the status page and -targets
}

// unlistedEvery is how often an instance that the peer discoverer does not list says so again.
const unlistedEvery = time.Minute

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
	rules, err := scrape.RelabelConfigs("cluster: relabel-configs", c.RelabelConfigs) // Init checked them
	if err != nil {
		return err
	}
	cl := &cluster{
		key:        key,
		self:       c.Self,
		r:          *c.ReplicationFactor,
		register:   c.Register,
		rules:      rules,
		peers:      rendezvous.New(c.Self),
		emptyAfter: time.Duration(c.EmptyPeersAfter),
	}
	if len(rules) == 0 {
		cl.rules = nil
		_, cl.selfPort, _ = net.SplitHostPort(c.Self)
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
// scrapes. The peers are the peer discoverer's current targets: before that discoverer answers, and alone,
// this instance owns every target; while it lists others but not this one, this one owns none, and the
// listed instances, which do not count it either, own every target among themselves.
func (p *DiscoveringPrometheus) assignOwners() {
	c := p.cluster
	if c == nil {
		return
	}
	now := time.Now()
	discovered, dropped := c.peersOf(p.sd.Groups(c.key))
	if len(dropped) > 0 && !slices.Equal(dropped, c.dropped) {
		p.Log.Warn(safetext.Line(fmt.Sprintf("cluster: %s lists %d targets on another port than self %q's, which are not taken for instances: %q; relabel-configs choose the instances otherwise",
			c.key, len(dropped), c.self, dropped), MaxLogLine))
	}
	c.dropped = dropped
	current := c.current(discovered, now, p.Log)
	// Host names compare case-insensitively: self "A:1" is the instance listed as "a:1", and takes part
	// under that spelling, the one the others hash.
	self, listed := c.self, 0
	for _, addr := range current {
		if strings.EqualFold(addr, c.self) {
			self = addr
			listed++
		}
	}
	names := current
	if len(current) == 0 { // no answer yet, or the last peers given up on: alone
		names = []string{c.self}
	}
	peers := rendezvous.New(names...)
	if !slices.Equal(peers.Names(), c.peers.Names()) {
		// The addresses come from discovery: quoted, and the line bounded.
		p.Log.Info(safetext.Line(fmt.Sprintf("cluster: %d instances share the targets: %q", peers.Len(), peers.Names()), MaxLogLine))
	}
	c.noteMembership(listed > 0, len(current) > 0, peers.Names(), now, p.Log)
	// Peers are names, so two instances with one self are one peer to everyone: both scrape its targets.
	if listed > 1 && listed != c.listed {
		p.Log.Warnf("cluster: %s lists self %q %d times: every instance that runs as %q scrapes the same targets (duplicates); give each its own self", c.key, c.self, listed, c.self)
	}
	c.listed = listed
	here := peers.Index(self) // -1 while unlisted: this instance owns no target
	owners := make(map[*scrape.Target][]int, len(c.owners))
	var all []int
	var d xxhash.Digest
	owned := 0
	for _, s := range p.scrapers {
		name := s.Config().Name
		for _, t := range s.Targets() {
			start := len(all)
			all = peers.Owners(all, targetKey(&d, name, t.Labels), c.r)
			mine := slices.Contains(all[start:], here)
			t.SetScrapedHere(mine)
			t.SetReplica(slices.Index(all[start:], here), len(all)-start) // its scrapes' phase (scrape.Schedule)
			owners[t] = all[start:len(all):len(all)]
			if mine {
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

// peersOf are the addresses of the peer discoverer's targets that are instances, and those the port filter
// dropped. With relabel-configs, the targets they keep are instances, by their __address__ after them.
// Without, the targets on another port than self's are not (a pod's other container ports, a portless
// container's bare IP, a sidecar's port): they would own shares that nobody scrapes.
func (c *cluster) peersOf(groups []*targetgroup.Group) (peers, dropped []string) {
	for _, g := range groups {
		for _, t := range g.Targets {
			if c.rules != nil {
				lb := labels.NewBuilder(labels.EmptyLabels())
				for name, value := range g.Labels {
					lb.Set(string(name), string(value))
				}
				for name, value := range t {
					lb.Set(string(name), string(value))
				}
				if keep := relabel.ProcessBuilder(lb, c.rules...); keep && lb.Get(model.AddressLabel) != "" {
					peers = append(peers, lb.Get(model.AddressLabel))
				}
				continue
			}
			addr, ok := t[model.AddressLabel]
			if !ok {
				addr = g.Labels[model.AddressLabel]
			}
			if addr == "" {
				continue
			}
			if _, port, _ := net.SplitHostPort(string(addr)); c.selfPort != "" && port != c.selfPort {
				dropped = append(dropped, string(addr))
				continue
			}
			peers = append(peers, string(addr))
		}
	}
	return peers, dropped
}

// noteMembership records whether the peer discoverer lists this instance among the peers. While it lists
// others but not this one, the instance logs an error naming self and the nearest instances listed, at once
// (a minute later for one that registers itself, which is listed once its registration is seen) and again
// every unlistedEvery, and the status page and -targets show it.
func (c *cluster) noteMembership(listed, answered bool, peers []string, now time.Time, log telegraf.Logger) {
	problem := ""
	c.selfListed.Store(0) // also alone, before an answer or after giving up on the last peers
	if listed {
		c.selfListed.Store(1)
	}
	if listed || !answered {
		if !c.unlistedSince.IsZero() {
			log.Infof("cluster: %s lists self %q now: it scrapes its share", c.key, c.self)
		}
		c.unlistedSince = time.Time{}
	} else {
		if c.unlistedSince.IsZero() {
			c.unlistedSince, c.remindAt = now, now
			if c.register {
				c.remindAt = now.Add(unlistedEvery)
			}
		}
		problem = safetext.Line(fmt.Sprintf("cluster: self %q is not among the %d instances %s lists (nearest: %q): it scrapes none of the shared targets, "+
			"which the listed instances share among themselves, until self names this instance as the discoverer lists it",
			c.self, len(peers), c.key, nearest(c.self, peers)), MaxLogLine)
	}
	c.mu.Lock()
	c.unlisted = problem
	c.mu.Unlock()
	c.remind(now, log)
}

// remind logs the error of an unlisted instance when it is due: noteMembership's first, then one every
// unlistedEvery, also when the peers do not change (a gather calls it).
func (c *cluster) remind(now time.Time, log telegraf.Logger) {
	if c == nil || c.unlistedSince.IsZero() || now.Before(c.remindAt) {
		return
	}
	c.mu.Lock()
	problem := c.unlisted
	c.mu.Unlock()
	log.Error(problem)
	c.remindAt = now.Add(unlistedEvery)
}

// nearest are the listed instances most like self, for the error that it is not listed: those of its host
// (on another port), else the three at the least edit distance, case aside.
func nearest(self string, peers []string) []string {
	host := hostOf(self)
	var same []string
	for _, p := range peers {
		if strings.EqualFold(hostOf(p), host) {
			same = append(same, p)
		}
	}
	if len(same) == 0 {
		same = slices.Clone(peers)
		distance := func(p string) int { return editDistance(strings.ToLower(self), strings.ToLower(p)) }
		slices.SortStableFunc(same, func(a, b string) int { return distance(a) - distance(b) })
	}
	return same[:min(3, len(same))]
}

func hostOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev, cur := make([]int, len(b)+1), make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// membership is this instance's standing in the cluster, for the status page and -targets; nil without a
// cluster table.
func (p *DiscoveringPrometheus) membership() *status.ClusterMember {
	_, _, c := p.running()
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return &status.ClusterMember{Self: c.self, Listed: c.selfListed.Load() == 1, Error: c.unlisted}
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

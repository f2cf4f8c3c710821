// Package cluster shares the targets of the scrapers among the instances a peer discoverer lists: each
// target belongs to R of them, chosen by rendezvous hashing of its scraper's name and its labels after
// relabeling, which every instance computes alike; an instance scrapes only the targets it owns.
//
// It reads the peer discoverer's target groups and the scrapers' targets through small interfaces (a
// function that returns the groups, Pool), and registers this instance through a Registrar, which the
// discoverers that can list an instance implement; it knows neither discovery nor scrape.
package cluster

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/relabel"

	"github.com/discovering-prometheus/discovering-prometheus/internal/rendezvous"
	"github.com/discovering-prometheus/discovering-prometheus/internal/safetext"
	"github.com/discovering-prometheus/discovering-prometheus/internal/status"
)

// Config is a cluster's settings, checked, with their defaults applied.
type Config struct {
	// Peers names the peer discoverer in log lines (file-discovery "peers").
	Peers string
	// Self is this instance as the peer discoverer lists it (its __address__).
	Self string
	// Replication is how many instances own each target (at least 1).
	Replication int
	// Register says that this instance registers itself with the peer discoverer.
	Register bool
	// EmptyPeersAfter is how long an empty answer of the peer discoverer, once it listed peers, keeps the
	// last peers before this instance shares with no one.
	EmptyPeersAfter time.Duration
	// Rules filter and rewrite the peer discoverer's targets before their __address__ names a peer; without
	// them, the targets on another port than self's are dropped.
	Rules []*relabel.Config
}

// Logger is where the cluster says what it does: telegraf.Logger is one.
type Logger interface {
	Error(args ...any)
	Errorf(format string, args ...any)
	Warn(args ...any)
	Warnf(format string, args ...any)
	Infof(format string, args ...any)
	Info(args ...any)
}

// Pool is the targets of one scraper, which the cluster shares by the pool's name and each target's labels
// after relabeling: scrape.Scraper is one.
type Pool interface {
	Name() string
	// Share marks the targets this instance scrapes, those whose key place gives a rank for (from 0, among
	// owners; -1 for another instance's), and returns how many. key gives a target's key from its labels; it
	// is the same function at every call for a pool, so that a pool may keep the keys. The rank spaces a
	// target's owners' scrapes 1/owners of its interval apart (scrape.Schedule).
	Share(key func(labels.Labels) uint64, place func(uint64) (rank, owners int)) (owned int)
	// Owned is how many targets this instance scrapes.
	Owned() int
}

// Stats are the cluster's gauges, for the plugin's own metrics.
type Stats struct {
	// Peers counts the instances that share the targets, this one included while listed.
	Peers atomic.Int64
	// TargetsOwned counts the targets this instance owns and scrapes.
	TargetsOwned atomic.Int64
	// PeersStale is 1 while the peer discoverer lists no instance and the last peers are kept.
	PeersStale atomic.Int64
	// SelfListed is 1 while the peer discoverer lists this instance.
	SelfListed atomic.Int64
	// Reshares counts the times the owners of every target were recomputed: the peers changed.
	Reshares atomic.Uint64
}

// Cluster is the running state of a cluster: the current peers, and this instance's standing among them.
type Cluster struct {
	name     string
	self     string
	r        int
	register bool
	rules    []*relabel.Config // without them, the port filter of selfPort
	selfPort string            // self's port; "" for a self without one, which filters nothing
	groups   func() []*targetgroup.Group
	log      Logger

	// mu guards the membership state below, which Assign changes and Remind, FallbackDue and Member read
	// from other goroutines (a gather, the status page).
	mu sync.Mutex

	stats      Stats
	cancel     context.CancelFunc
	registered sync.WaitGroup

	listed  int      // how many times the peer discoverer listed self at the last Assign
	dropped []string // the peer discoverer's targets the port filter dropped at the last Assign

	// While the peer discoverer lists instances but not self: since when, and when to say it again.
	unlistedSince, remindAt time.Time

	// The last peers the discoverer listed, kept through an empty answer for emptyAfter; emptySince is
	// when that answer came, zero while it lists peers.
	last       []string
	emptySince time.Time
	emptyAfter time.Duration

	shares   atomic.Pointer[Shares]
	shared   bool   // the pools have been shared by the current shares
	unlisted string // the error while self is not listed, for the status page and -targets
}

// unlistedEvery is how often an instance that the peer discoverer does not list says so again.
const unlistedEvery = time.Minute

// New returns the cluster of cfg, whose peers are the targets of the groups the function returns (the peer
// discoverer's current ones). Alone until the first Assign.
func New(cfg Config, groups func() []*targetgroup.Group, log Logger) *Cluster {
	c := &Cluster{
		name:       cfg.Peers,
		self:       cfg.Self,
		r:          cfg.Replication,
		register:   cfg.Register,
		rules:      cfg.Rules,
		groups:     groups,
		log:        log,
		emptyAfter: cfg.EmptyPeersAfter,
		cancel:     func() {},
	}
	if len(c.rules) == 0 {
		c.rules = nil
		_, c.selfPort, _ = net.SplitHostPort(cfg.Self)
	}
	c.shares.Store(newShares(rendezvous.New(cfg.Self), cfg.Self, c.r))
	c.stats.Peers.Store(1)
	return c
}

// Register keeps self registered with r until Stop; what it does goes to logger.
func (c *Cluster) Register(r Registrar, digest string, logger *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.registered.Add(1)
	go func() {
		defer c.registered.Done()
		r.Register(ctx, c.self, digest, logger)
	}()
}

// Stop ends the registration, whose member goes with it.
func (c *Cluster) Stop() {
	c.cancel()
	c.registered.Wait()
}

// Stats returns the cluster's gauges.
func (c *Cluster) Stats() *Stats { return &c.stats }

// Peers are the instances that share the targets now, sorted.
func (c *Cluster) Peers() []string { return c.shares.Load().peers.Names() }

// Assign reads the peer discoverer's answer and, when the peers it makes differ from the last ones (and at
// the first call), recomputes the owners of every target of the pools; it returns whether it did. The peers
// are the peer discoverer's current targets: before that discoverer answers, and alone, this instance owns
// every target; while it lists others but not this one, this one owns none, and the listed instances, which
// do not count it either, own every target among themselves.
func (c *Cluster) Assign(pools []Pool) bool {
	shares, changed := c.update(time.Now())
	if changed || !c.shared {
		for _, pool := range pools {
			share(pool, shares)
		}
		c.shared = true
		c.stats.Reshares.Add(1)
	}
	c.Count(pools)
	return changed
}

// Join shares the targets of pools new to the cluster (the scrapers a reload adds) among the current peers;
// the pools Assign shared keep their owners. Before the first Assign it does nothing: that shares them all.
func (c *Cluster) Join(pools []Pool) {
	if !c.shared {
		return
	}
	shares := c.shares.Load()
	for _, pool := range pools {
		share(pool, shares)
	}
}

// share has pool scrape the targets the shares give this instance.
func share(pool Pool, shares *Shares) {
	name := pool.Name()
	pool.Share(func(ls labels.Labels) uint64 {
		var d xxhash.Digest
		return targetKey(&d, name, ls)
	}, shares.Place)
}

// Count takes the number of targets this instance scrapes from the pools, after they changed.
func (c *Cluster) Count(pools []Pool) {
	owned := 0
	for _, pool := range pools {
		owned += pool.Owned()
	}
	c.stats.TargetsOwned.Store(int64(owned))
}

// update reads the peer discoverer's answer and makes the shares of the peers it lists current; changed
// tells whether they differ from the last ones.
func (c *Cluster) update(now time.Time) (shares *Shares, changed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	discovered, dropped := c.peersOf(c.groups())
	if len(dropped) > 0 && !slices.Equal(dropped, c.dropped) {
		c.log.Warn(safetext.Line(fmt.Sprintf("cluster: %s lists %d targets on another port than self %q's, which are not taken for instances: %q; relabel-configs choose the instances otherwise",
			c.name, len(dropped), c.self, dropped), safetext.MaxLogLine))
	}
	c.dropped = dropped
	current := c.current(discovered, now)
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
	if !slices.Equal(peers.Names(), c.Peers()) {
		// The addresses come from discovery: quoted, and the line bounded.
		c.log.Info(safetext.Line(fmt.Sprintf("cluster: %d instances share the targets: %q", peers.Len(), peers.Names()), safetext.MaxLogLine))
	}
	c.noteMembership(listed > 0, len(current) > 0, peers.Names(), now)
	// Peers are names, so two instances with one self are one peer to everyone: both scrape its targets.
	if listed > 1 && listed != c.listed {
		c.log.Warnf("cluster: %s lists self %q %d times: every instance that runs as %q scrapes the same targets (duplicates); give each its own self", c.name, c.self, listed, c.self)
	}
	c.listed = listed
	shares = newShares(peers, self, c.r)
	last := c.shares.Load()
	if shares.here == last.here && slices.Equal(peers.Names(), last.peers.Names()) {
		return last, false
	}
	c.shares.Store(shares)
	c.stats.Peers.Store(int64(peers.Len()))
	return shares, true
}

// peersOf are the addresses of the peer discoverer's targets that are instances, and those the port filter
// dropped. With relabel-configs, the targets they keep are instances, by their __address__ after them.
// Without, the targets on another port than self's are not (a pod's other container ports, a portless
// container's bare IP, a sidecar's port): they would own shares that nobody scrapes.
func (c *Cluster) peersOf(groups []*targetgroup.Group) (peers, dropped []string) {
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

// Owners names the instances that own the target of the pool with those labels, highest weight first.
func (c *Cluster) Owners(pool string, ls labels.Labels) []string {
	return c.shares.Load().Owners(pool, ls)
}

// Member is this instance's standing in the cluster, for the status page and -targets.
func (c *Cluster) Member() *status.ClusterMember {
	c.mu.Lock()
	defer c.mu.Unlock()
	return &status.ClusterMember{Self: c.self, Listed: c.stats.SelfListed.Load() == 1, Error: c.unlisted}
}

// Shares is who owns which target among a set of peers; it does not change.
type Shares struct {
	peers *rendezvous.Peers
	here  int // this instance's index among the peers; -1 while unlisted: it owns no target
	r     int
}

func newShares(peers *rendezvous.Peers, self string, r int) *Shares {
	return &Shares{peers: peers, here: peers.Index(self), r: r}
}

// Place is this instance's rank among the owners of the targets of a key (targetKey), highest weight
// first, and how many owners they have; the rank is -1 when this instance is not one of them.
func (s *Shares) Place(key uint64) (rank, owners int) {
	var stack [8]int
	all := s.peers.Owners(stack[:0], key, s.r)
	return slices.Index(all, s.here), len(all)
}

// Owners names the instances that own the target of the pool with those labels, highest weight first.
func (s *Shares) Owners(pool string, ls labels.Labels) []string {
	var d xxhash.Digest
	var names []string
	for _, i := range s.peers.Owners(nil, targetKey(&d, pool, ls), s.r) {
		names = append(names, s.peers.Name(i))
	}
	return names
}

// Weighed is every peer's weight for the target of the pool with those labels, highest first, and the
// owners among them, as Assign chose them: the cluster's step of the relabeling view.
func (c *Cluster) Weighed(pool string, ls labels.Labels) *status.StepCluster {
	out := &status.StepCluster{Self: c.self, ReplicationFactor: c.r}
	shares := c.shares.Load()
	if shares == nil || shares.peers == nil {
		return out
	}
	var d xxhash.Digest
	key := targetKey(&d, pool, ls)
	peers := shares.peers
	owners := peers.Owners(nil, key, c.r)
	byWeight := make([]int, peers.Len())
	for i := range byWeight {
		byWeight[i] = i
	}
	slices.SortStableFunc(byWeight, func(a, b int) int { return cmp.Compare(peers.Weight(b, key), peers.Weight(a, key)) })
	for _, i := range byWeight {
		owner := slices.Contains(owners, i)
		out.Peers = append(out.Peers, status.PeerWeight{Name: peers.Name(i), Weight: float64(peers.Weight(i, key)) / math.MaxUint64, Owner: owner})
		out.ScrapedHere = out.ScrapedHere || owner && i == shares.here
	}
	return out
}

// targetKey is what identifies a target alike on every instance: its scraper's name and its labels after
// relabeling.
func targetKey(d *xxhash.Digest, pool string, ls labels.Labels) uint64 {
	d.Reset()
	_, _ = d.WriteString(pool)
	ls.Range(func(l labels.Label) {
		_, _ = d.Write(keySep)
		_, _ = d.WriteString(l.Name)
		_, _ = d.Write(keySep)
		_, _ = d.WriteString(l.Value)
	})
	return d.Sum64()
}

var keySep = []byte{0xff} // in no valid UTF-8 string

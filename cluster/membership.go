package cluster

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/discovering-prometheus/discovering-prometheus/internal/rendezvous"
	"github.com/discovering-prometheus/discovering-prometheus/internal/safetext"
)

// noteMembership records whether the peer discoverer lists this instance among the peers. While it lists
// others but not this one, the instance logs an error naming self and the nearest instances listed, at once
// (a minute later for one that registers itself, which is listed once its registration is seen) and again
// every unlistedEvery, and the status page and -targets show it. c.mu is held.
func (c *Cluster) noteMembership(listed, answered bool, peers []string, now time.Time) {
	problem := ""
	c.stats.SelfListed.Store(0) // also alone, before an answer or after giving up on the last peers
	if listed {
		c.stats.SelfListed.Store(1)
	}
	if listed || !answered {
		if !c.unlistedSince.IsZero() {
			c.log.Infof("cluster: %s lists self %q now: it scrapes its share", c.name, c.self)
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
			c.self, len(peers), c.name, nearest(c.self, peers)), safetext.MaxLogLine)
	}
	c.unlisted = problem
	c.remind(now)
}

// Remind logs the error of an unlisted instance when it is due: noteMembership's first, then one every
// unlistedEvery, also when the peers do not change (a gather calls it).
func (c *Cluster) Remind(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.remind(now)
}

// remind is Remind with c.mu held.
func (c *Cluster) remind(now time.Time) {
	if c.unlistedSince.IsZero() || now.Before(c.remindAt) {
		return
	}
	c.log.Error(c.unlisted)
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

// current returns the peers discovered or, when the answer is empty after peers were listed, the last ones
// listed, until emptyAfter has passed: an emptied file, a DNS name with no ready pod or a Consul service with
// no healthy instance would otherwise make every instance scrape every target at once. The instances then
// fall back one after another, each later by its rank among the last peers (up to twice emptyAfter). c.mu
// is held.
func (c *Cluster) current(discovered []string, now time.Time) []string {
	if len(discovered) > 0 {
		if !c.emptySince.IsZero() {
			c.log.Infof("cluster: %s lists instances again", c.name)
		}
		c.last, c.emptySince = discovered, time.Time{}
		c.stats.PeersStale.Store(0)
		return discovered
	}
	if c.last == nil { // never listed, or given up on: alone
		return nil
	}
	if c.emptySince.IsZero() {
		c.emptySince = now
		c.log.Warnf("cluster: %s lists no instance: keeping the last %d for up to %s (empty-peers-after) before scraping every target",
			c.name, rendezvous.New(c.last...).Len(), c.fallbackIn())
	}
	if now.Sub(c.emptySince) < c.fallbackIn() {
		c.stats.PeersStale.Store(1)
		return c.last
	}
	c.log.Warnf("cluster: %s has listed no instance for %s (empty-peers-after): scraping every target", c.name, c.fallbackIn())
	c.last, c.emptySince = nil, time.Time{}
	c.stats.PeersStale.Store(0)
	return nil
}

// fallbackIn is how long this instance keeps the last peers through an empty answer: emptyAfter, plus its
// rank among the last peers (by address) times emptyAfter over their number, so that not all instances
// take every target at the same moment.
func (c *Cluster) fallbackIn() time.Duration {
	names := rendezvous.New(append([]string{c.self}, c.last...)...).Names() // sorted, each once
	rank := max(slices.Index(names, c.self), 0)
	return c.emptyAfter + time.Duration(rank)*c.emptyAfter/time.Duration(len(names))
}

// FallbackDue tells whether the last peers kept through an empty answer have expired: the owners are then
// recomputed without news from discovery.
func (c *Cluster) FallbackDue(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.emptySince.IsZero() && now.Sub(c.emptySince) >= c.fallbackIn()
}

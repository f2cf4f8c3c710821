package rendezvous

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkOwnership simulates a cluster larger than this machine runs: 1,000 peers share 10,000,000
// targets, one owner each. An op recomputes every target's owner after a peer leaves, and again after a
// new one joins, as the plugin does on a change of peers. Reported: the balance (max/mean targets per peer,
// before the change), the share of targets that moved on leave and on join (ideal: 1/1000 each, only the
// leaver's and only the joiner's), and the CPU time of one recompute, one goroutine.
func BenchmarkOwnership(b *testing.B) {
	const peers, targets = 1000, 10_000_000
	names := peerNames(peers)
	all := New(names...)
	without := New(names[1:]...)
	joined := New(append(slices.Clone(names), "10.9.9.9:9273")...)
	before := assign(all, targets)
	perPeer := make([]int, all.Len())
	for _, o := range before {
		perPeer[o]++
	}
	b.ResetTimer()
	var leave, join []int32
	start := time.Now()
	for range b.N {
		leave = assign(without, targets)
		join = assign(joined, targets)
	}
	recompute := time.Since(start) / time.Duration(2*b.N)
	b.StopTimer()
	b.ReportMetric(float64(slices.Max(perPeer))/(float64(targets)/peers), "max/mean")
	b.ReportMetric(moved(all, before, without, leave), "moved-on-leave")
	b.ReportMetric(moved(all, before, joined, join), "moved-on-join")
	b.ReportMetric(recompute.Seconds(), "s/recompute")
	b.ReportMetric(float64(recompute.Nanoseconds())/(targets*peers), "ns/target/peer")
}

// assign is every target's owner among the peers.
func assign(p *Peers, targets int) []int32 {
	owners := make([]int32, targets)
	var dst []int
	for i := range owners {
		dst = p.Owners(dst[:0], key(i), 1)
		owners[i] = int32(dst[0])
	}
	return owners
}

// moved is the share of targets whose owner (by name) differs between two assignments.
func moved(p *Peers, owners []int32, q *Peers, other []int32) float64 {
	n := 0
	for i, o := range owners {
		if p.Name(int(o)) != q.Name(int(other[i])) {
			n++
		}
	}
	return float64(n) / float64(len(owners))
}

// BenchmarkOwners is the cost of one target's owners: O(peers), one mix per peer.
func BenchmarkOwners(b *testing.B) {
	for _, peers := range []int{10, 100, 1000} {
		for _, r := range []int{1, 2} {
			p := New(peerNames(peers)...)
			b.Run(fmt.Sprintf("peers=%d/r=%d", peers, r), func(b *testing.B) {
				var dst []int
				for i := range b.N {
					dst = p.Owners(dst[:0], key(i), r)
				}
			})
		}
	}
}

package rendezvous

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/require"
)

func peerNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("10.0.%d.%d:9273", i/250, i%250)
	}
	return names
}

// key is the hash of the i-th key, as callers hash their keys.
func key(i int) uint64 {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(i))
	return xxhash.Sum64(b[:])
}

// TestBalance: with 100 peers and 1,000,000 keys no peer owns more than 1.05 of the mean, for one owner
// a key and for two.
func TestBalance(t *testing.T) {
	peers := New(peerNames(100)...)
	const keys = 1_000_000
	for _, r := range []int{1, 2} {
		t.Run(fmt.Sprintf("r=%d", r), func(t *testing.T) {
			owned := make([]int, peers.Len())
			var dst []int
			for i := range keys {
				dst = peers.Owners(dst[:0], key(i), r)
				require.Len(t, dst, r)
				if r == 2 {
					require.NotEqual(t, dst[0], dst[1])
				}
				for _, o := range dst {
					owned[o]++
				}
			}
			mean := float64(keys*r) / float64(peers.Len())
			top, bottom := slices.Max(owned), slices.Min(owned)
			t.Logf("r=%d: max/mean %.4f, min/mean %.4f", r, float64(top)/mean, float64(bottom)/mean)
			require.LessOrEqual(t, float64(top), 1.05*mean)
			require.GreaterOrEqual(t, float64(bottom), 0.95*mean)
		})
	}
}

// TestMovement: when a peer leaves, only the keys it owned change owners, and each of those keeps its
// other owners; when one joins, only the keys it now owns change, each losing exactly one owner to it.
func TestMovement(t *testing.T) {
	names := peerNames(20)
	all := New(names...)
	leaver := names[7]
	without := New(slices.Delete(slices.Clone(names), 7, 8)...)
	const keys = 100_000
	for _, r := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("r=%d", r), func(t *testing.T) {
			moved := 0
			for i := range keys {
				before := ownerNames(all, key(i), r)
				after := ownerNames(without, key(i), r)
				if !slices.Contains(before, leaver) { // leave: untouched; join (after -> before): untouched
					require.Equal(t, before, after, "key %d", i)
					continue
				}
				moved++
				kept := slices.DeleteFunc(slices.Clone(before), func(n string) bool { return n == leaver })
				require.Subset(t, after, kept, "key %d keeps its other owners", i)
				require.Len(t, after, r)
				require.NotContains(t, after, leaver)
			}
			share := float64(moved) / keys
			t.Logf("r=%d: %.4f of the keys had the leaver among their owners (expected %.4f)", r, share, float64(r)/20)
			require.InDelta(t, float64(r)/20, share, 0.01)
		})
	}
}

func ownerNames(p *Peers, key uint64, r int) []string {
	var names []string
	for _, i := range p.Owners(nil, key, r) {
		names = append(names, p.Name(i))
	}
	return names
}

// TestSameEverywhere: the owners depend on the set of names only, not on their order or repetition.
func TestSameEverywhere(t *testing.T) {
	names := peerNames(10)
	reversed := slices.Clone(names)
	slices.Reverse(reversed)
	a, b := New(names...), New(append(reversed, names[3], names[3])...)
	require.Equal(t, 10, b.Len())
	for i := range 10_000 {
		require.Equal(t, ownerNames(a, key(i), 3), ownerNames(b, key(i), 3))
	}
}

func TestOwners(t *testing.T) {
	peers := New("c:1", "a:1", "b:1")
	tests := []struct {
		name string
		r    int
		want int
	}{
		{"one", 1, 1},
		{"all", 3, 3},
		{"more than the peers", 10, 3},
		{"beyond the stack", 9, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			owners := peers.Owners([]int{42}, key(1), tt.r)
			require.Equal(t, 42, owners[0], "appends to dst")
			owners = owners[1:]
			require.Len(t, owners, tt.want)
			for j := 1; j < len(owners); j++ {
				require.Greater(t, weight(key(1), peers.hashes[owners[j-1]]), weight(key(1), peers.hashes[owners[j]]), "highest weight first")
			}
		})
	}
	t.Run("none", func(t *testing.T) {
		require.Empty(t, New().Owners(nil, key(1), 1))
	})
	t.Run("index", func(t *testing.T) {
		require.Equal(t, 0, peers.Index("a:1"))
		require.Equal(t, 2, peers.Index("c:1"))
		require.Equal(t, -1, peers.Index("d:1"))
	})
	t.Run("many owners", func(t *testing.T) {
		many := New(peerNames(40)...)
		owners := many.Owners(nil, key(5), 20)
		require.Len(t, owners, 20)
		sorted := slices.Clone(owners)
		slices.Sort(sorted)
		require.Len(t, slices.Compact(sorted), 20, "distinct")
		require.Equal(t, ownerNames(many, key(5), 20)[:3], ownerNames(many, key(5), 3), "the top 3 of 20 are the top 3")
	})
}

// Weight is what Owners ranks by: the owners are the peers of highest weight, in that order.
func TestWeightRanksTheOwners(t *testing.T) {
	peers := New(peerNames(7)...)
	for i := range 1000 {
		byWeight := make([]int, peers.Len())
		for j := range byWeight {
			byWeight[j] = j
		}
		slices.SortStableFunc(byWeight, func(a, b int) int { return cmp.Compare(peers.Weight(b, key(i)), peers.Weight(a, key(i))) })
		require.Equal(t, byWeight[:3], peers.Owners(nil, key(i), 3))
	}
}

// Package rendezvous chooses the owners of a key among peers by rendezvous (highest-random-weight) hashing:
// every peer gets a pseudo-random weight for the key, and the r peers of highest weight own it. Every
// instance that knows the same peers computes the same owners, with no coordination. When a peer leaves,
// only the keys it owned move (each to the peer of next weight); when one joins, only the keys it now
// owns move to it. Each peer owns 1/n of the keys in expectation. Choosing costs one multiply-xorshift
// mix per peer: O(peers) per key.
package rendezvous

import (
	"slices"

	"github.com/cespare/xxhash/v2"
)

// Peers is a fixed set of peers, known by name.
type Peers struct {
	names  []string // sorted, so that ties break alike everywhere
	hashes []uint64
}

// New returns the set of the names, each once.
func New(names ...string) *Peers {
	sorted := slices.Clone(names)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	p := &Peers{names: sorted, hashes: make([]uint64, len(sorted))}
	for i, name := range sorted {
		p.hashes[i] = xxhash.Sum64String(name)
	}
	return p
}

// Len is the number of peers.
func (p *Peers) Len() int { return len(p.names) }

// Names are the peers' names, sorted; the caller must not change them.
func (p *Peers) Names() []string { return p.names }

// Name is the name of peer i.
func (p *Peers) Name(i int) string { return p.names[i] }

// Index is the index of the named peer, or -1.
func (p *Peers) Index(name string) int {
	i, ok := slices.BinarySearch(p.names, name)
	if !ok {
		return -1
	}
	return i
}

// Owners appends to dst the indexes of the min(r, Len) peers that own key (a 64-bit hash of it, such as
// xxhash's), highest weight first.
func (p *Peers) Owners(dst []int, key uint64, r int) []int {
	r = min(r, len(p.hashes))
	var stack [8]uint64
	weights := stack[:]
	if r > len(stack) {
		weights = make([]uint64, r)
	}
	start, n := len(dst), 0 // dst[start:start+n] are the owners so far, by weights[:n], highest first
	for i, h := range p.hashes {
		w := weight(key, h)
		if n == r && w <= weights[r-1] { // ties go to the lower index, which came first
			continue
		}
		j := n
		if n < r {
			dst = append(dst, 0)
			n++
		} else {
			j-- // the last owner so far gives way
		}
		// Insertion, as r is small: shift the owners of lower weight down one place.
		for ; j > 0 && weights[j-1] < w; j-- {
			weights[j], dst[start+j] = weights[j-1], dst[start+j-1]
		}
		weights[j], dst[start+j] = w, i
	}
	return dst
}

// Weight is peer i's weight for key, the one Owners ranks the peers by: for showing why a peer owns a key.
func (p *Peers) Weight(i int, key uint64) uint64 { return weight(key, p.hashes[i]) }

// weight is the peer's weight for the key: splitmix64's finalizer of the two hashes combined, a bijection
// that scatters every input bit over the output (go-rendezvous, which go-redis uses, does the same with
// xorshift-multiply).
func weight(key, peer uint64) uint64 {
	z := key ^ peer
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

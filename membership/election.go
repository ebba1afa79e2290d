package membership

import (
	"bytes"
	"crypto/sha256"
	"net/netip"
	"slices"
)

// Rank returns nodes ordered by preference for owning addr: by SHA-256 of
// "<name>#<addr>", ties by name. Duplicate names count once. Every node
// computes the same ranking from the same input.
func Rank(addr netip.Addr, nodes []string) []string {
	type scored struct {
		name string
		sum  [sha256.Size]byte
	}
	key := "#" + addr.WithZone("").String()
	s := make([]scored, 0, len(nodes))
	for _, n := range nodes {
		s = append(s, scored{n, sha256.Sum256([]byte(n + key))})
	}
	slices.SortFunc(s, func(a, b scored) int {
		if c := bytes.Compare(a.sum[:], b.sum[:]); c != 0 {
			return c
		}
		if a.name < b.name {
			return -1
		}
		if a.name > b.name {
			return 1
		}
		return 0
	})
	out := make([]string, 0, len(s))
	for i, x := range s {
		if i > 0 && x.name == s[i-1].name {
			continue
		}
		out = append(out, x.name)
	}
	return out
}

// Candidate is an address to elect an owner for.
type Candidate struct {
	Addr netip.Addr
	// Eligible restricts the election to these nodes (e.g. nodes matching
	// an L2Advertisement, or with a ready local endpoint). Nil means every
	// alive node; an empty, non-nil slice means no node.
	Eligible []string
}

// Election is the outcome of Elect.
type Election struct {
	// Owners maps each candidate address to its owner; addresses with no
	// eligible alive node are absent.
	Owners map[netip.Addr]string
	// Watch lists, sorted, the owners that self is next in line after for
	// some address: pass it to Membership.Watch.
	Watch []string
}

// Elect elects the owner of each candidate over the eligible nodes that are
// in alive, as seen by node self.
func Elect(self string, cands []Candidate, alive []string) Election {
	e := Election{Owners: make(map[netip.Addr]string, len(cands))}
	for _, c := range cands {
		nodes := alive
		if c.Eligible != nil {
			nodes = nil
			for _, n := range c.Eligible {
				if slices.Contains(alive, n) {
					nodes = append(nodes, n)
				}
			}
		}
		r := Rank(c.Addr, nodes)
		if len(r) == 0 {
			continue
		}
		e.Owners[c.Addr.WithZone("")] = r[0]
		if len(r) > 1 && r[1] == self && !slices.Contains(e.Watch, r[0]) {
			e.Watch = append(e.Watch, r[0])
		}
	}
	slices.Sort(e.Watch)
	return e
}

// OwnedBy returns the addresses owned by node, sorted.
func (e Election) OwnedBy(node string) []netip.Addr {
	var out []netip.Addr
	for a, n := range e.Owners {
		if n == node {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

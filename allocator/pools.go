package allocator

import (
	"cmp"
	"fmt"
	"maps"
	"math/big"
	"net/netip"
	"slices"

	"go4.org/netipx"
)

// poolState is a configured pool with its search structures.
type poolState struct {
	cfg  Pool
	fams [2]familyState // by famIndex
	// services counts the services whose assignment names the pool.
	services int
}

type familyState struct {
	// ranges are the pool's ordinals of this family, sorted, merged.
	ranges []ordRange
	// addrs are the pool's address ranges of this family as raw values
	// (ordinals without AvoidBuggyIPs), sorted, for the sharing-key search.
	addrs []ordRange
	// held are the ordinals held by services.
	held intervalSet
}

func (p *poolState) avoid(f Family) bool { return p.cfg.AvoidBuggyIPs && f == IPv4 }

// ord returns a's ordinal in p; ok is false when p excludes a.
func (p *poolState) ord(a netip.Addr) (u128, bool) {
	return p.ordIP(ipOf(a))
}

// ordIP is ord for an ip; it agrees with ordOf.
func (p *poolState) ordIP(x ip) (u128, bool) {
	if x.v6 || !p.cfg.AvoidBuggyIPs {
		return x.u, true
	}
	last := x.u.lo & 0xff
	if last == 0 || last == 255 {
		return u128{}, false
	}
	return u128{0, (x.u.lo>>8)*254 + last - 1}, true
}

func (p *poolState) hasFamily(f Family) bool { return len(p.fams[famIndex(f)].ranges) > 0 }

// total returns the number of addresses of family f the pool can hand out.
func (p *poolState) total(f Family) *big.Int {
	t := new(big.Int)
	one := big.NewInt(1)
	for _, r := range p.fams[famIndex(f)].ranges {
		t.Add(t, r.hi.sub(r.lo).big())
		t.Add(t, one)
	}
	return t
}

// firstFree returns the lowest address of family f no service holds.
func (p *poolState) firstFree(f Family) (netip.Addr, bool) {
	fs := &p.fams[famIndex(f)]
	for _, r := range fs.ranges {
		if o, ok := fs.held.firstFree(r.lo, r.hi); ok {
			return addrOf(o, f, p.avoid(f)), true
		}
	}
	return netip.Addr{}, false
}

// rangeEntry is one merged address range of one pool, for poolFor.
type rangeEntry struct {
	from, to netip.Addr
	lo, hi   ip // from and to, for poolOf
	pool     *poolState
}

// poolSet is an immutable, validated pool configuration.
type poolSet struct {
	byName map[string]*poolState
	// order is the auto-assignment order: pools with a ServiceAllocation
	// by priority (unset last) then name, then the others by name.
	order []*poolState
	// index holds every pool's merged ranges, sorted and disjoint.
	index []rangeEntry
}

// poolFor returns the pool whose ranges contain a, or nil.
func (s *poolSet) poolFor(a netip.Addr) *poolState {
	if s == nil || !a.IsValid() || a.Zone() != "" {
		return nil
	}
	return s.poolOf(ipOf(a))
}

// poolOf returns the pool whose ranges contain x, or nil.
func (s *poolSet) poolOf(x ip) *poolState {
	if s == nil {
		return nil
	}
	// The first entry starting above x; the one before it may hold x.
	lo, hi := 0, len(s.index)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if compareIPs(s.index[m].lo, x) <= 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == 0 {
		return nil
	}
	if e := &s.index[lo-1]; compareIPs(x, e.hi) <= 0 {
		return e.pool
	}
	return nil
}

func clonePool(p Pool) Pool {
	p.Addresses = slices.Clone(p.Addresses)
	if p.Allocation != nil {
		al := *p.Allocation
		al.Namespaces = slices.Clone(al.Namespaces)
		al.NamespaceSelectors = cloneSelectors(al.NamespaceSelectors)
		al.ServiceSelectors = cloneSelectors(al.ServiceSelectors)
		p.Allocation = &al
	}
	return p
}

func cloneSelectors(in []Selector) []Selector {
	if in == nil {
		return nil
	}
	out := make([]Selector, len(in))
	for i, s := range in {
		out[i].MatchLabels = maps.Clone(s.MatchLabels)
		if s.MatchExpressions != nil {
			out[i].MatchExpressions = make([]Requirement, len(s.MatchExpressions))
			for j, r := range s.MatchExpressions {
				r.Values = slices.Clone(r.Values)
				out[i].MatchExpressions[j] = r
			}
		}
	}
	return out
}

// buildPools validates pools and builds their search structures. The held
// sets are empty.
func buildPools(pools []Pool) (*poolSet, error) {
	s := &poolSet{byName: make(map[string]*poolState, len(pools))}
	for i, p := range pools {
		if p.Name == "" {
			return nil, fmt.Errorf("%w: pool %d has no name", ErrInvalidPool, i)
		}
		if _, dup := s.byName[p.Name]; dup {
			return nil, fmt.Errorf("%w: duplicate pool name %q", ErrInvalidPool, p.Name)
		}
		if len(p.Addresses) == 0 {
			return nil, fmt.Errorf("%w: pool %q has no addresses", ErrInvalidPool, p.Name)
		}
		for _, r := range p.Addresses {
			if !r.IsValid() {
				return nil, fmt.Errorf("%w: pool %q has invalid range %q", ErrInvalidPool, p.Name, r.String())
			}
		}
		if al := p.Allocation; al != nil {
			for _, sel := range append(slices.Clone(al.NamespaceSelectors), al.ServiceSelectors...) {
				if err := sel.Validate(); err != nil {
					return nil, fmt.Errorf("pool %q: %w", p.Name, err)
				}
			}
		}
		ps := &poolState{cfg: clonePool(p)}
		s.byName[p.Name] = ps
		for _, r := range mergeRanges(p.Addresses) {
			s.index = append(s.index, rangeEntry{from: r.From(), to: r.To(), lo: ipOf(r.From()), hi: ipOf(r.To()), pool: ps})
			f := familyOf(r.From())
			fs := &ps.fams[famIndex(f)]
			fs.addrs = append(fs.addrs, ordRange{ipOf(r.From()).u, ipOf(r.To()).u})
			if or, ok := ordRangeOf(r.From(), r.To(), ps.avoid(f)); ok {
				// Ranges arrive sorted; ordinals may now touch.
				if n := len(fs.ranges); n > 0 && fs.ranges[n-1].hi != maxU128 && fs.ranges[n-1].hi.add1() == or.lo {
					fs.ranges[n-1].hi = or.hi
				} else {
					fs.ranges = append(fs.ranges, or)
				}
			}
		}
	}
	slices.SortFunc(s.index, func(a, b rangeEntry) int {
		if c := a.from.Compare(b.from); c != 0 {
			return c
		}
		if c := a.to.Compare(b.to); c != 0 {
			return c
		}
		return cmp.Compare(a.pool.cfg.Name, b.pool.cfg.Name)
	})
	// Within a pool ranges are merged, so any overlap is between pools.
	if len(s.index) > 0 {
		widest := s.index[0]
		for _, e := range s.index[1:] {
			if e.from.Compare(widest.to) <= 0 {
				to := e.to
				if widest.to.Less(to) {
					to = widest.to
				}
				a, b := widest.pool.cfg.Name, e.pool.cfg.Name
				if b < a {
					a, b = b, a
				}
				return nil, &OverlapError{PoolA: a, PoolB: b, Range: netipx.IPRangeFrom(e.from, to)}
			}
			if widest.to.Less(e.to) {
				widest = e
			}
		}
	}
	for _, ps := range s.byName {
		s.order = append(s.order, ps)
	}
	slices.SortFunc(s.order, comparePools)
	return s, nil
}

// comparePools orders pools for auto-assignment.
func comparePools(a, b *poolState) int {
	ga, gb := a.cfg.Allocation == nil, b.cfg.Allocation == nil
	if ga != gb {
		if ga {
			return 1
		}
		return -1
	}
	if !ga {
		pa, pb := a.cfg.Allocation.Priority, b.cfg.Allocation.Priority
		if (pa == 0) != (pb == 0) {
			if pa == 0 {
				return 1
			}
			return -1
		}
		if c := cmp.Compare(pa, pb); c != 0 {
			return c
		}
	}
	return cmp.Compare(a.cfg.Name, b.cfg.Name)
}

// mergeRanges sorts valid ranges and merges overlapping or adjacent ones.
func mergeRanges(in []netipx.IPRange) []netipx.IPRange {
	rs := slices.Clone(in)
	slices.SortFunc(rs, func(a, b netipx.IPRange) int {
		if c := a.From().Compare(b.From()); c != 0 {
			return c
		}
		return a.To().Compare(b.To())
	})
	var out []netipx.IPRange
	for _, r := range rs {
		if n := len(out); n > 0 {
			last := out[n-1]
			if familyOf(last.From()) == familyOf(r.From()) {
				next := last.To().Next()
				if r.From().Compare(last.To()) <= 0 || (next.IsValid() && next == r.From()) {
					if last.To().Less(r.To()) {
						out[n-1] = netipx.IPRangeFrom(last.From(), r.To())
					}
					continue
				}
			}
		}
		out = append(out, r)
	}
	return out
}

package allocator

import (
	"cmp"
	"math/big"
	"net/netip"
	"slices"
)

// SetPools replaces the pool set. An invalid set (ErrInvalidPool,
// ErrOverlappingPools) changes nothing.
//
// SetPools never moves or drops an assignment. Addresses that leave every
// pool stay held by their services, which Lookup then reports as Stranded
// until they are released (or a pool covers them again); assignments the
// new pools no longer admit stay, reported as Ineligible. The Report lists
// every such assignment, and those whose addresses now belong to a pool of
// another name (the assignment follows them). Call WhatIf first to see the
// Report without applying it. Cost: O(n log n) for n held addresses.
func (a *Allocator) SetPools(pools []Pool) (Report, error) {
	ps, err := buildPools(pools)
	if err != nil {
		return Report{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	rep := a.report(ps)
	a.install(ps)
	return rep, nil
}

// WhatIf returns the Report SetPools(pools) would return, and its error,
// without changing anything.
func (a *Allocator) WhatIf(pools []Pool) (Report, error) {
	ps, err := buildPools(pools)
	if err != nil {
		return Report{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	return a.report(ps), nil
}

// report lists what installing ps would do to the assignments.
func (a *Allocator) report(ps *poolSet) Report {
	names := make([]string, 0, len(a.services))
	for name := range a.services {
		names = append(names, name)
	}
	slices.Sort(names)
	var rep Report
	for _, name := range names {
		rec := a.services[name]
		np, stranded := poolOfAll(ps, rec.addrs)
		c := Change{Service: name, Addresses: slices.Clone(rec.addrs), OldPool: rec.pool}
		switch {
		case stranded:
			c.Reason = Stranded
		case !np.cfg.Allocation.admits(rec.namespace, rec.labels, rec.nsLabels) || excludes(np, rec.addrs):
			c.Reason, c.NewPool = Ineligible, np.cfg.Name
		case np.cfg.Name != rec.pool:
			c.Reason, c.NewPool = Repooled, np.cfg.Name
		default:
			continue
		}
		rep.Changes = append(rep.Changes, c)
	}
	return rep
}

// poolOfAll returns the one pool of ps holding all addrs; stranded is true
// when there is none.
func poolOfAll(ps *poolSet, addrs []netip.Addr) (p *poolState, stranded bool) {
	for _, ad := range addrs {
		q := ps.poolFor(ad)
		if q == nil || (p != nil && q != p) {
			return nil, true
		}
		p = q
	}
	return p, p == nil
}

func excludes(p *poolState, addrs []netip.Addr) bool {
	for _, ad := range addrs {
		if _, ok := p.ord(ad); !ok {
			return true
		}
	}
	return false
}

// install makes ps the pool set, re-homing assignments and rebuilding the
// held sets.
func (a *Allocator) install(ps *poolSet) {
	a.pools = ps
	for _, rec := range a.services {
		if p, stranded := poolOfAll(ps, rec.addrs); !stranded {
			rec.pool = p.cfg.Name
		}
		rec.ps = ps.byName[rec.pool]
		if rec.ps != nil {
			rec.ps.services++
		}
	}
	addrs := make([]netip.Addr, 0, len(a.held))
	for ad := range a.held {
		addrs = append(addrs, ad)
	}
	// Sorted insertion keeps the treap shapes independent of map order.
	slices.SortFunc(addrs, netip.Addr.Compare)
	for _, ad := range addrs {
		if p := ps.poolFor(ad); p != nil {
			if o, ok := p.ord(ad); ok {
				p.fams[famIndex(familyOf(ad))].held.add(o)
			}
		}
	}
}

// Pools returns a copy of the current pool set, sorted by name.
func (a *Allocator) Pools() []Pool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	out := make([]Pool, 0, len(a.pools.byName))
	for _, p := range a.pools.byName {
		out = append(out, clonePool(p.cfg))
	}
	slices.SortFunc(out, func(x, y Pool) int { return cmp.Compare(x.Name, y.Name) })
	return out
}

// PoolStats returns the counts of the named pool.
func (a *Allocator) PoolStats(name string) (PoolStats, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	p := a.pools.byName[name]
	if p == nil {
		return PoolStats{}, false
	}
	return a.stats(p), true
}

// Stats returns the counts of every pool, sorted by name.
func (a *Allocator) Stats() []PoolStats {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	out := make([]PoolStats, 0, len(a.pools.byName))
	for _, p := range a.pools.byName {
		out = append(out, a.stats(p))
	}
	slices.SortFunc(out, func(x, y PoolStats) int { return cmp.Compare(x.Pool, y.Pool) })
	return out
}

func (a *Allocator) stats(p *poolState) PoolStats {
	fam := func(f Family) FamilyStats {
		total := p.total(f)
		inUse := p.fams[famIndex(f)].held.count
		avail := new(big.Int).Sub(total, new(big.Int).SetUint64(inUse))
		return FamilyStats{Total: total, InUse: inUse, Available: avail}
	}
	return PoolStats{
		Pool:     p.cfg.Name,
		IPv4:     fam(IPv4),
		IPv6:     fam(IPv6),
		Services: p.services,
	}
}

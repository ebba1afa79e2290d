package allocator

import (
	"cmp"
	"math/big"
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
	recs := make([]*record, 0, a.recs.live)
	a.recs.each(func(_ ref, rec *record) { recs = append(recs, rec) })
	slices.SortFunc(recs, func(x, y *record) int { return cmp.Compare(x.service, y.service) })
	var rep Report
	for _, rec := range recs {
		np, stranded := poolOfAll(ps, rec)
		c := Change{Service: rec.service, Addresses: rec.addrs(), OldPool: rec.pool}
		switch {
		case stranded:
			c.Reason = Stranded
		case !np.cfg.Allocation.admits(rec.namespace, rec.labels, rec.nsLabels) || excludes(np, rec):
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

// poolOfAll returns the one pool of ps holding all of rec's addresses;
// stranded is true when there is none.
func poolOfAll(ps *poolSet, rec *record) (p *poolState, stranded bool) {
	for _, x := range rec.ips[:rec.n] {
		q := ps.poolOf(x)
		if q == nil || (p != nil && q != p) {
			return nil, true
		}
		p = q
	}
	return p, p == nil
}

// excludes reports whether p excludes one of rec's addresses.
func excludes(p *poolState, rec *record) bool {
	for _, x := range rec.ips[:rec.n] {
		if _, ok := p.ordIP(x); !ok {
			return true
		}
	}
	return false
}

// install makes ps the pool set, re-homing assignments and rebuilding the
// held sets.
func (a *Allocator) install(ps *poolSet) {
	a.pools = ps
	a.recs.each(func(_ ref, rec *record) {
		if p, stranded := poolOfAll(ps, rec); !stranded {
			rec.pool = p.cfg.Name
		}
		rec.ps = ps.byName[rec.pool]
		if rec.ps != nil {
			rec.ps.services++
		}
	})
	held := make([]ip, 0, a.recs.heldCount())
	a.recs.eachHeld(func(x ip, _ ref) { held = append(held, x) })
	// Sorted insertion keeps the treap shapes independent of map order.
	slices.SortFunc(held, compareIPs)
	for _, x := range held {
		if p := ps.poolOf(x); p != nil {
			if o, ok := p.ordIP(x); ok {
				p.fams[famIndex(x.family())].held.add(o)
			}
		}
	}
}

// compareIPs orders IPv4 before IPv6, then by value, as netip.Addr does.
func compareIPs(x, y ip) int {
	if x.v6 != y.v6 {
		if x.v6 {
			return 1
		}
		return -1
	}
	return x.u.cmp(y.u)
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

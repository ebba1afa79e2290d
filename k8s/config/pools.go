package config

import (
	"fmt"

	"go4.org/netipx"

	"github.com/lbkit/lbkit/allocator"
	"github.com/lbkit/lbkit/k8s/api/v1beta1"
)

// poolSet is every IPAddressPool by name, valid or not, so references to
// an invalid pool are told apart from references to a missing one.
type poolSet struct {
	byName map[string]*poolEntry
	order  []*poolEntry // sorted by namespace/name
}

type poolEntry struct {
	ref    objectRef
	labels map[string]string
	pool   allocator.Pool
	set    *netipx.IPSet
	ok     bool
}

func (s poolSet) valid() []allocator.Pool {
	var out []allocator.Pool
	for _, e := range s.order {
		if e.ok {
			out = append(out, e.pool)
		}
	}
	return out
}

func (t *translation) pools(in []v1beta1.IPAddressPool) poolSet {
	s := poolSet{byName: make(map[string]*poolEntry, len(in))}
	for _, p := range sortByName(in, func(p *v1beta1.IPAddressPool) (string, string) { return p.Namespace, p.Name }) {
		e := &poolEntry{
			ref:    objectRef{"IPAddressPool", p.Namespace, p.Name},
			labels: p.Labels,
			ok:     true,
		}
		s.order = append(s.order, e)
		if prev, dup := s.byName[p.Name]; dup {
			t.add(e.ref.err("metadata.name", ErrConflict, "pool name %q is also used by IPAddressPool %s/%s", p.Name, prev.ref.namespace, prev.ref.name))
			e.ok = false
			continue
		}
		s.byName[p.Name] = e
		e.ok = t.pool(e, p)
	}
	t.checkOverlaps(s.order)
	return s
}

func (t *translation) pool(e *poolEntry, p *v1beta1.IPAddressPool) bool {
	ok := true
	e.pool = allocator.Pool{
		Name:          p.Name,
		AutoAssign:    p.Spec.AutoAssign == nil || *p.Spec.AutoAssign,
		AvoidBuggyIPs: p.Spec.AvoidBuggyIPs,
	}
	if len(p.Spec.Addresses) == 0 {
		t.add(e.ref.err("spec.addresses", ErrInvalidValue, "a pool needs at least one address"))
		ok = false
	}
	var b netipx.IPSetBuilder
	for i, a := range p.Spec.Addresses {
		rs, err := allocator.ParsePoolAddresses([]string{a})
		if err != nil {
			t.add(e.ref.err(fmt.Sprintf("spec.addresses[%d]", i), ErrInvalidValue, "%v", err))
			ok = false
			continue
		}
		for _, r := range rs {
			e.pool.Addresses = append(e.pool.Addresses, r)
			b.AddRange(r)
		}
	}
	set, err := b.IPSet()
	if err != nil { // only on invalid ranges, which ParsePoolAddresses rejects
		t.add(e.ref.err("spec.addresses", ErrInvalidValue, "%v", err))
		ok = false
	}
	e.set = set
	if sa := p.Spec.ServiceAllocation; sa != nil {
		al := &allocator.ServiceAllocation{
			Priority:   sa.Priority,
			Namespaces: append([]string(nil), sa.Namespaces...),
		}
		if sa.Priority < 0 {
			t.add(e.ref.err("spec.serviceAllocation.priority", ErrInvalidValue, "priority %d is negative", sa.Priority))
			ok = false
		}
		for i, ns := range sa.Namespaces {
			if ns == "" {
				t.add(e.ref.err(fmt.Sprintf("spec.serviceAllocation.namespaces[%d]", i), ErrInvalidValue, "empty namespace name"))
				ok = false
			}
		}
		var sok, vok bool
		al.NamespaceSelectors, sok = t.selectors(e.ref, "spec.serviceAllocation.namespaceSelectors", sa.NamespaceSelectors)
		al.ServiceSelectors, vok = t.selectors(e.ref, "spec.serviceAllocation.serviceSelectors", sa.ServiceSelectors)
		ok = ok && sok && vok
		e.pool.Allocation = al
	}
	return ok
}

// checkOverlaps rejects a pool sharing addresses with a valid pool that
// sorts before it; the earlier pool keeps working.
func (t *translation) checkOverlaps(pools []*poolEntry) {
	for j, b := range pools {
		if !b.ok {
			continue
		}
		for _, a := range pools[:j] {
			if !a.ok || !a.set.Overlaps(b.set) {
				continue
			}
			var ib netipx.IPSetBuilder
			ib.AddSet(a.set)
			ib.Intersect(b.set)
			shared, _ := ib.IPSet()
			rs := shared.Ranges()
			t.add(b.ref.err("spec.addresses", fmt.Errorf("%w: %w", ErrConflict, allocator.ErrOverlappingPools),
				"%s overlaps IPAddressPool %s/%s", rs[0], a.ref.namespace, a.ref.name))
			b.ok = false
			break
		}
	}
}

package allocator

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"go4.org/netipx"
)

// checkInvariants verifies the allocator's internal consistency and the
// properties the package promises, recounting everything from scratch.
func checkInvariants(a *Allocator) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.init()
	svcCount := map[string]int{}
	live := 0
	var err error
	a.recs.each(func(r ref, rec *record) {
		live++
		if err != nil {
			return
		}
		name := rec.service
		if got, _ := a.recs.find(name); got != r {
			err = fmt.Errorf("record %q in slot %d filed under slot %d", name, r, got)
			return
		}
		if rec.n == 0 || rec.n > 2 {
			err = fmt.Errorf("%q holds %d addresses", name, rec.n)
			return
		}
		if rec.ps != a.pools.byName[rec.pool] {
			err = fmt.Errorf("%q: stale pool state", name)
			return
		}
		if rec.ps != nil {
			svcCount[rec.pool]++
		}
		for _, x := range rec.ips[:rec.n] {
			if !slices.Contains(holderList(a, x.addr()), rec) {
				err = fmt.Errorf("%q holds %s but is not among its holders", name, x.addr())
				return
			}
		}
		if !a.stranded(rec) {
			for _, x := range rec.ips[:rec.n] {
				if p := a.pools.poolFor(x.addr()); p == nil || p.cfg.Name != rec.pool {
					err = fmt.Errorf("%q: %s is not in its pool %q", name, x.addr(), rec.pool)
					return
				}
			}
		}
	})
	if err != nil {
		return err
	}
	if live != a.recs.live {
		return fmt.Errorf("%d records stored, %d counted", live, a.recs.live)
	}
	indexed := 0
	for _, head := range a.recs.byName {
		for r := head; r != 0 && indexed <= live; r = a.recs.at(r).hnext {
			indexed++
		}
	}
	if indexed != live {
		return fmt.Errorf("service index holds %d records, %d stored", indexed, live)
	}
	for name, p := range a.pools.byName {
		if svcCount[name] != p.services {
			return fmt.Errorf("pool %q counts %d services, recount %d", name, p.services, svcCount[name])
		}
	}
	var held []netip.Addr
	a.recs.eachHeld(func(x ip, _ ref) { held = append(held, x.addr()) })
	keyed := map[string]uint64{}
	for _, ad := range held {
		hs := holderList(a, ad)
		if len(hs) == 0 {
			return fmt.Errorf("%s has an empty holder list", ad)
		}
		for i, h := range hs {
			if f, _ := a.recs.find(h.service); f == 0 || a.recs.at(f) != h || !slices.Contains(h.addrs(), ad) {
				return fmt.Errorf("%s lists stale holder %q", ad, h.service)
			}
			if i > 0 && hs[i-1].service >= h.service {
				return fmt.Errorf("%s holders unsorted or duplicated", ad)
			}
			for _, o := range hs[:i] {
				if o.key == "" || o.key != h.key || o.backend != h.backend {
					return fmt.Errorf("%s held by incompatible %q and %q", ad, o.service, h.service)
				}
				if pt, ok := overlap(o.ports, h.ports); ok {
					return fmt.Errorf("%s: %q and %q both use %v", ad, o.service, h.service, pt)
				}
			}
		}
		if k := hs[0].key; k != "" {
			x := ipOf(ad)
			if ks := a.byKey[k]; ks == nil || !ks.set(x).contains(x.u) {
				return fmt.Errorf("%s missing from key %q index", ad, k)
			}
			keyed[k]++
		}
	}
	for k, set := range a.byKey {
		if set.len() != keyed[k] {
			return fmt.Errorf("key %q indexes %d addresses, recount %d", k, set.len(), keyed[k])
		}
		for fi := range set.fams {
			if err := checkIntervals(&set.fams[fi]); err != nil {
				return fmt.Errorf("key %q: %v", k, err)
			}
		}
	}
	for _, p := range a.pools.byName {
		for fi, f := range []Family{IPv4, IPv6} {
			fs := &p.fams[fi]
			var recount uint64
			for _, ad := range held {
				if familyOf(ad) != f || a.pools.poolFor(ad) != p {
					continue
				}
				if o, ok := p.ord(ad); ok {
					recount++
					if !fs.held.contains(o) {
						return fmt.Errorf("pool %q: held %s missing from its set", p.cfg.Name, ad)
					}
				}
			}
			if err := checkIntervals(&fs.held); err != nil {
				return fmt.Errorf("pool %q: %v", p.cfg.Name, err)
			}
			if recount != fs.held.count {
				return fmt.Errorf("pool %q IPv%d: count %d, recount %d", p.cfg.Name, f, fs.held.count, recount)
			}
		}
	}
	return nil
}

// checkIntervals verifies that s's intervals are ordered, maximal and
// counted right, and that its node slice has no leaked nodes.
func checkIntervals(s *intervalSet) error {
	var sum, nodes uint64
	var prev *u128
	var err error
	s.walk(func(st, e u128) bool {
		nodes++
		if e.less(st) || (prev != nil && !prev.add1().less(st)) {
			err = fmt.Errorf("intervals out of order or touching")
			return false
		}
		sum += e.sub(st).lo + 1
		pe := e
		prev = &pe
		return true
	})
	if err != nil {
		return err
	}
	if sum != s.count || nodes != uint64(s.nodes) {
		return fmt.Errorf("count %d, interval sum %d; nodes %d, walked %d", s.count, sum, s.nodes, nodes)
	}
	free := 0
	for i := s.free; i != 0 && free < len(s.mem); i = s.mem[i].left {
		free++
	}
	if len(s.mem) > 0 && free+s.nodes != len(s.mem)-1 {
		return fmt.Errorf("%d nodes in use and %d free of %d", s.nodes, free, len(s.mem)-1)
	}
	return nil
}

func holderList(a *Allocator, ad netip.Addr) []*record {
	var out []*record
	for _, h := range a.recs.holders(ipOf(ad)) {
		if len(out) >= 1000 {
			break
		}
		out = append(out, h)
	}
	return out
}

// opReader decodes fuzz bytes into operations.
type opReader struct{ b []byte }

func (r *opReader) next() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

var fuzzAddrs = []netip.Addr{
	netip.MustParseAddr("10.0.0.0"), netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.3"),
	netip.MustParseAddr("10.0.1.255"), netip.MustParseAddr("10.0.2.0"), netip.MustParseAddr("10.0.2.1"),
	netip.MustParseAddr("10.0.3.7"), netip.MustParseAddr("10.9.9.9"),
	netip.MustParseAddr("fd00::"), netip.MustParseAddr("fd00::3"), netip.MustParseAddr("fd01::1"),
	netip.MustParseAddr("::ffff:10.0.0.1"),
}

func fuzzPools() [][]Pool {
	r := func(s ...string) []netipx.IPRange {
		out, err := ParsePoolAddresses(s)
		if err != nil {
			panic(err) // constant input
		}
		return out
	}
	return [][]Pool{
		{
			{Name: "a", Addresses: r("10.0.0.0/30", "fd00::/126"), AutoAssign: true},
			{Name: "b", Addresses: r("10.0.1.254-10.0.2.1"), AutoAssign: true, AvoidBuggyIPs: true,
				Allocation: &ServiceAllocation{Priority: 1, Namespaces: []string{"ns1"}}},
			{Name: "c", Addresses: r("10.0.3.7", "fd01::/127"),
				Allocation: &ServiceAllocation{ServiceSelectors: []Selector{{MatchLabels: map[string]string{"app": "x"}}}}},
		},
		{
			{Name: "a", Addresses: r("10.0.0.0/31"), AutoAssign: true},
			{Name: "b2", Addresses: r("10.0.1.255-10.0.2.1", "fd00::/127"), AutoAssign: true},
		},
		{
			{Name: "z", Addresses: r("10.0.0.0/22", "fd00::/64", "fd01::/64"), AutoAssign: true, AvoidBuggyIPs: true,
				Allocation: &ServiceAllocation{NamespaceSelectors: []Selector{{MatchExpressions: []Requirement{{Key: "t", Operator: OpNotIn, Values: []string{"no"}}}}}}},
		},
		nil,
	}
}

// runOps applies the operations encoded in data, checking invariants after
// each, and returns a transcript for determinism checks.
func runOps(t testing.TB, data []byte) []string {
	a := New(Config{})
	configs := fuzzPools()
	r := &opReader{b: data}
	var log []string
	for steps := 0; len(r.b) > 0 && steps < 200; steps++ {
		op := r.next() % 7
		svc := fmt.Sprintf("s%d", r.next()%8)
		switch op {
		case 0, 1, 5:
			b := r.next()
			req := Request{Service: svc, Namespace: fmt.Sprintf("ns%d", b%3)}
			if b&4 != 0 {
				req.Labels = map[string]string{"app": "x"}
			}
			if b&8 != 0 {
				req.NamespaceLabels = map[string]string{"t": "no"}
			}
			if b&16 != 0 {
				req.SharingKey = fmt.Sprintf("k%d", b>>5&1)
				req.Ports = []Port{{TCP, uint16(b >> 6)}}
			}
			if b&32 != 0 && op == 5 {
				req.BackendKey = "local"
			}
			f := r.next()
			req.Families = FamilyPolicy{Stack: StackPolicy(f % 4), Primary: []Family{0, IPv4, IPv6, 5}[f>>2%4]}
			switch f >> 4 % 4 {
			case 1:
				req.Pool = []string{"a", "b", "c", "b2", "z", "none"}[r.next()%6]
			case 2:
				req.Addresses = []netip.Addr{fuzzAddrs[int(r.next())%len(fuzzAddrs)]}
			case 3:
				req.Addresses = []netip.Addr{fuzzAddrs[int(r.next())%len(fuzzAddrs)], fuzzAddrs[int(r.next())%len(fuzzAddrs)]}
			}
			_, existed := a.Lookup(svc)
			as, err := a.Allocate(req)
			log = append(log, fmt.Sprint("alloc ", as, err))
			if err == nil && !existed {
				if as.Stranded || as.Ineligible {
					t.Fatalf("fresh allocation of %q is %+v", svc, as)
				}
				if p := a.pools.byName[as.Pool]; p == nil || !p.cfg.Allocation.admits(req.Namespace, req.Labels, req.NamespaceLabels) {
					t.Fatalf("fresh allocation %+v from a pool that does not admit it", as)
				}
				if len(req.Addresses) == 0 && req.Families.Stack == SingleStack && len(as.Addresses) != 1 {
					t.Fatalf("single-stack %q got %v", svc, as.Addresses)
				}
				if req.Families.Stack == RequireDualStack && len(as.Addresses) != 2 {
					t.Fatalf("dual-stack %q got %v", svc, as.Addresses)
				}
			}
		case 2:
			var addrs []netip.Addr
			for range r.next() % 3 {
				addrs = append(addrs, fuzzAddrs[int(r.next())%len(fuzzAddrs)])
			}
			as, err := a.Assign(Request{Service: svc, SharingKey: "k0"}, addrs)
			log = append(log, fmt.Sprint("assign ", as, err))
			if err == nil && !slices.Equal(as.Addresses, addrs) && !(len(addrs) == 2 && as.Addresses[0] == addrs[1]) {
				t.Fatalf("assign %v gave %v", addrs, as.Addresses)
			}
		case 3:
			old, _ := a.Lookup(svc)
			ok := a.Release(svc)
			log = append(log, fmt.Sprint("release ", ok))
			if _, still := a.Lookup(svc); still {
				t.Fatalf("%q held after release", svc)
			}
			for _, ad := range old.Addresses {
				if slices.Contains(a.Holders(ad), svc) {
					t.Fatalf("%q still holds %s", svc, ad)
				}
			}
		case 4:
			ps := configs[int(r.next())%len(configs)]
			rep, err := a.SetPools(ps)
			log = append(log, fmt.Sprint("pools ", rep, err))
			if err != nil {
				t.Fatalf("SetPools: %v", err)
			}
		case 6:
			before := fmt.Sprint(a.Assignments(), a.Stats())
			rep, err := a.WhatIf(configs[int(r.next())%len(configs)])
			log = append(log, fmt.Sprint("whatif ", rep, err))
			if after := fmt.Sprint(a.Assignments(), a.Stats()); after != before {
				t.Fatal("WhatIf changed state")
			}
		}
		if err := checkInvariants(a); err != nil {
			t.Fatalf("after op %d: %v\nlog: %v", op, err, log)
		}
	}
	log = append(log, fmt.Sprint(a.Assignments(), a.Stats()))
	return log
}

func FuzzOps(f *testing.F) {
	f.Add([]byte{4, 0, 0, 0, 1, 0, 0, 1, 1, 0, 3, 0, 0, 1, 0})
	f.Add([]byte{4, 0, 0, 0, 0, 16, 0, 0, 1, 16, 0, 0, 2, 16, 2, 4, 0, 1, 6, 0, 2})
	f.Add([]byte{4, 0, 2, 0, 0, 1, 33, 1, 2, 2, 2, 0, 8, 4, 0, 1, 3, 0, 0, 5, 3, 48, 0})
	f.Add([]byte{4, 0, 0, 0, 1, 2, 49, 5, 11, 2, 3, 2, 3, 8, 4, 1, 3, 2, 6, 3, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		first := runOps(t, data)
		if second := runOps(t, data); !slices.Equal(first, second) {
			t.Fatalf("nondeterministic:\n%v\n%v", first, second)
		}
	})
}

// TestRandomOps runs many random operation sequences through the fuzz
// harness, so plain `go test` exercises it beyond the seed corpus.
func TestRandomOps(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		data := make([]byte, 20+rng.IntN(300))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		if i%7 == 0 {
			data[0] = 4 // start with pools
		}
		first := runOps(t, data)
		if i%10 == 0 {
			if second := runOps(t, data); !slices.Equal(first, second) {
				t.Fatalf("nondeterministic for %x", data)
			}
		}
	}
}

func TestIntervalSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var s intervalSet
	model := map[uint64]bool{}
	for range 20000 {
		x := uint64(rng.IntN(300))
		if model[x] {
			if !s.remove(u128{0, x}) {
				t.Fatalf("remove %d failed", x)
			}
			delete(model, x)
		} else {
			s.add(u128{0, x})
			model[x] = true
		}
		if s.count != uint64(len(model)) {
			t.Fatalf("count %d, model %d", s.count, len(model))
		}
		lo := uint64(rng.IntN(300))
		hi := lo + uint64(rng.IntN(50))
		want, ok := uint64(0), false
		for y := lo; y <= hi; y++ {
			if !model[y] {
				want, ok = y, true
				break
			}
		}
		got, gok := s.firstFree(u128{0, lo}, u128{0, hi})
		if gok != ok || (ok && got.lo != want) {
			t.Fatalf("firstFree(%d,%d) = %v,%v; want %d,%v", lo, hi, got, gok, want, ok)
		}
		want, ok = 0, false
		for y := lo; y < 300; y++ {
			if model[y] {
				want, ok = y, true
				break
			}
		}
		if got, gok := s.next(u128{0, lo}); gok != ok || (ok && got.lo != want) {
			t.Fatalf("next(%d) = %v,%v; want %d,%v", lo, got, gok, want, ok)
		}
	}
	// The ends of the ordinal space.
	var e intervalSet
	e.add(maxU128)
	e.add(maxU128.sub1())
	if e.nodes != 1 || !e.contains(maxU128) {
		t.Fatal("top merge failed")
	}
	if _, ok := e.firstFree(maxU128.sub1(), maxU128); ok {
		t.Fatal("full top reported free")
	}
	if !e.remove(maxU128) || e.remove(maxU128) || e.count != 1 {
		t.Fatal("top remove failed")
	}
}

func TestOrdinals(t *testing.T) {
	for _, s := range []string{"0.0.0.1", "10.0.0.254", "10.0.1.1", "255.255.255.254"} {
		a := netip.MustParseAddr(s)
		o, ok := ordOf(a, true)
		if !ok || addrOf(o, IPv4, true) != a {
			t.Fatalf("%s: ordinal round trip failed", s)
		}
		if n, _ := ordOf(a.Next(), true); a.Next().As4()[3] != 255 && n != o.add1() {
			t.Fatalf("%s: ordinals not dense", s)
		}
	}
	if _, ok := ordOf(netip.MustParseAddr("10.0.0.255"), true); ok {
		t.Fatal(".255 has an ordinal")
	}
	// The pointer-free ip form round-trips and agrees with ordOf.
	for _, s := range []string{"0.0.0.0", "10.0.0.0", "10.0.0.255", "10.0.1.7", "255.255.255.255", "::", "::ffff:10.0.0.1", "fd00::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"} {
		a := netip.MustParseAddr(s)
		x := ipOf(a)
		if x.addr() != a || x.family() != familyOf(a) {
			t.Fatalf("%s: ip round trip gave %s", s, x.addr())
		}
		for _, avoid := range []bool{false, true} {
			p := &poolState{cfg: Pool{AvoidBuggyIPs: avoid}}
			wo, wok := ordOf(a, avoid && a.Is4())
			if o, ok := p.ordIP(x); o != wo || ok != wok {
				t.Fatalf("%s avoid=%v: ordIP %v,%v; ordOf %v,%v", s, avoid, o, ok, wo, wok)
			}
		}
	}
	if ipOf(netip.MustParseAddr("::ffff:10.0.0.1")) == ipOf(netip.MustParseAddr("10.0.0.1")) {
		t.Fatal("IPv4-mapped IPv6 address collides with IPv4")
	}
	if errors.Is(nil, ErrPoolExhausted) {
		t.Fatal("unreachable")
	}
}

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
	for name, rec := range a.services {
		if rec.service != name {
			return fmt.Errorf("record %q filed under %q", rec.service, name)
		}
		if len(rec.addrs) == 0 || len(rec.addrs) > 2 {
			return fmt.Errorf("%q holds %d addresses", name, len(rec.addrs))
		}
		if rec.ps != a.pools.byName[rec.pool] {
			return fmt.Errorf("%q: stale pool state", name)
		}
		if rec.ps != nil {
			svcCount[rec.pool]++
		}
		if len(rec.addrs) > 0 && &rec.addrs[0] != &rec.buf[0] {
			return fmt.Errorf("%q: addresses outside the record", name)
		}
		for _, ad := range rec.addrs {
			if !slices.Contains(holderList(a, ad), rec) {
				return fmt.Errorf("%q holds %s but is not among its holders", name, ad)
			}
		}
		if !a.stranded(rec) {
			for _, ad := range rec.addrs {
				if p := a.pools.poolFor(ad); p == nil || p.cfg.Name != rec.pool {
					return fmt.Errorf("%q: %s is not in its pool %q", name, ad, rec.pool)
				}
			}
		}
	}
	for name, p := range a.pools.byName {
		if svcCount[name] != p.services {
			return fmt.Errorf("pool %q counts %d services, recount %d", name, p.services, svcCount[name])
		}
	}
	keyed := map[string]int{}
	for ad := range a.held {
		hs := holderList(a, ad)
		if len(hs) == 0 {
			return fmt.Errorf("%s has an empty holder list", ad)
		}
		for i, h := range hs {
			if a.services[h.service] != h || !slices.Contains(h.addrs, ad) {
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
			if _, ok := a.byKey[k][ad]; !ok {
				return fmt.Errorf("%s missing from key %q index", ad, k)
			}
			keyed[k]++
		}
	}
	for k, set := range a.byKey {
		if len(set) != keyed[k] {
			return fmt.Errorf("key %q indexes %d addresses, recount %d", k, len(set), keyed[k])
		}
	}
	for _, p := range a.pools.byName {
		for fi, f := range []Family{IPv4, IPv6} {
			fs := &p.fams[fi]
			var recount uint64
			for ad := range a.held {
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
			var sum, nodes uint64
			var prev *u128
			var err error
			fs.held.walk(func(s, e u128) bool {
				nodes++
				if e.less(s) || (prev != nil && !prev.add1().less(s)) {
					err = fmt.Errorf("pool %q: intervals out of order or touching", p.cfg.Name)
					return false
				}
				sum += e.sub(s).lo + 1
				pe := e
				prev = &pe
				return true
			})
			if err != nil {
				return err
			}
			if sum != fs.held.count || recount != fs.held.count || nodes != uint64(fs.held.nodes) {
				return fmt.Errorf("pool %q IPv%d: count %d, interval sum %d, recount %d", p.cfg.Name, f, fs.held.count, sum, recount)
			}
		}
	}
	return nil
}

func holderList(a *Allocator, ad netip.Addr) []*record {
	var out []*record
	for h := a.held[ad]; h != nil && len(out) < 1000; h = *h.link(ad) {
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
	if errors.Is(nil, ErrPoolExhausted) {
		t.Fatal("unreachable")
	}
}

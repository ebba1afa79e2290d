package allocator_test

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"testing"

	"github.com/lbkit/lbkit/allocator"
	"go4.org/netipx"
)

func ranges(t testing.TB, s ...string) []netipx.IPRange {
	t.Helper()
	r, err := allocator.ParsePoolAddresses(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, x := range s {
		out = append(out, netip.MustParseAddr(x))
	}
	return out
}

func strs(as []netip.Addr) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

// step is one operation of a stateful sequence.
type step struct {
	op      string // pools, whatif, alloc, assign, release
	pools   []allocator.Pool
	req     allocator.Request
	addrs   []string // for assign
	want    []string // addresses of the resulting assignment
	pool    string   // pool of the resulting assignment, if set
	flags   string   // "stranded", "ineligible" or ""
	wantErr error
	holder  string   // for a *ConflictError
	changes []string // "service:reason:old>new" for pools / whatif
	check   func(t *testing.T, a *allocator.Allocator)
}

func runSteps(t *testing.T, steps []step) {
	t.Helper()
	a := allocator.New(allocator.Config{})
	for i, s := range steps {
		var (
			as  allocator.Assignment
			rep allocator.Report
			err error
		)
		switch s.op {
		case "pools":
			rep, err = a.SetPools(s.pools)
		case "whatif":
			before := a.Assignments()
			rep, err = a.WhatIf(s.pools)
			if after := a.Assignments(); fmt.Sprint(before) != fmt.Sprint(after) {
				t.Fatalf("step %d: WhatIf changed assignments", i)
			}
		case "alloc":
			as, err = a.Allocate(s.req)
		case "assign":
			as, err = a.Assign(s.req, addrs(s.addrs...))
		case "release":
			if !a.Release(s.req.Service) && s.wantErr == nil {
				t.Fatalf("step %d: release of %q found nothing", i, s.req.Service)
			}
			if _, ok := a.Lookup(s.req.Service); ok {
				t.Fatalf("step %d: %q still held after release", i, s.req.Service)
			}
			continue
		default:
			t.Fatalf("step %d: unknown op %q", i, s.op)
		}
		if s.wantErr != nil {
			if !errors.Is(err, s.wantErr) {
				t.Fatalf("step %d (%s %s): err = %v, want %v", i, s.op, s.req.Service, err, s.wantErr)
			}
			if s.holder != "" {
				var ce *allocator.ConflictError
				if !errors.As(err, &ce) || ce.Holder != s.holder {
					t.Fatalf("step %d: err = %v, want a conflict with %q", i, err, s.holder)
				}
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d (%s %s): %v", i, s.op, s.req.Service, err)
		}
		if s.op == "alloc" || s.op == "assign" {
			if got := strs(as.Addresses); s.want != nil && !slices.Equal(got, s.want) {
				t.Fatalf("step %d (%s %s): addresses %v, want %v", i, s.op, s.req.Service, got, s.want)
			}
			if s.pool != "" && as.Pool != s.pool {
				t.Fatalf("step %d (%s %s): pool %q, want %q", i, s.op, s.req.Service, as.Pool, s.pool)
			}
			flags := ""
			if as.Stranded {
				flags = "stranded"
			}
			if as.Ineligible {
				flags += "ineligible"
			}
			if flags != s.flags {
				t.Fatalf("step %d (%s %s): flags %q, want %q", i, s.op, s.req.Service, flags, s.flags)
			}
			if lk, ok := a.Lookup(s.req.Service); !ok || fmt.Sprint(lk) != fmt.Sprint(as) {
				t.Fatalf("step %d: Lookup = %v, %v; want %v", i, lk, ok, as)
			}
		}
		if s.op == "pools" || s.op == "whatif" {
			var got []string
			for _, c := range rep.Changes {
				got = append(got, fmt.Sprintf("%s:%d:%s>%s", c.Service, c.Reason, c.OldPool, c.NewPool))
			}
			if !slices.Equal(got, s.changes) {
				t.Fatalf("step %d (%s): changes %v, want %v", i, s.op, got, s.changes)
			}
		}
		if s.check != nil {
			s.check(t, a)
		}
	}
}

func TestSequences(t *testing.T) {
	rg := func(s ...string) []netipx.IPRange { return ranges(t, s...) }
	auto := func(name string, s ...string) allocator.Pool {
		return allocator.Pool{Name: name, Addresses: rg(s...), AutoAssign: true}
	}
	withAlloc := func(p allocator.Pool, al allocator.ServiceAllocation) allocator.Pool {
		p.Allocation = &al
		return p
	}
	svc := func(name string) allocator.Request { return allocator.Request{Service: name} }
	shared := func(name, key string, ports ...uint16) allocator.Request {
		r := allocator.Request{Service: name, SharingKey: key}
		for _, p := range ports {
			r.Ports = append(r.Ports, allocator.Port{Protocol: allocator.TCP, Port: p})
		}
		return r
	}
	dual := func(name string, stack allocator.StackPolicy, primary allocator.Family) allocator.Request {
		return allocator.Request{Service: name, Families: allocator.FamilyPolicy{Stack: stack, Primary: primary}}
	}
	inNS := func(name, ns string, nsLabels, labels map[string]string) allocator.Request {
		return allocator.Request{Service: name, Namespace: ns, NamespaceLabels: nsLabels, Labels: labels}
	}
	stats := func(pool string, v4, v6 uint64) func(*testing.T, *allocator.Allocator) {
		return func(t *testing.T, a *allocator.Allocator) {
			st, ok := a.PoolStats(pool)
			if !ok || st.IPv4.InUse != v4 || st.IPv6.InUse != v6 {
				t.Fatalf("stats of %q = %+v, want in use %d/%d", pool, st, v4, v6)
			}
		}
	}
	exhausted := allocator.ErrPoolExhausted
	Stranded, Ineligible, Repooled := int(allocator.Stranded), int(allocator.Ineligible), int(allocator.Repooled)
	ch := func(svc string, reason int, from, to string) string {
		return fmt.Sprintf("%s:%d:%s>%s", svc, reason, from, to)
	}

	tests := []struct {
		name  string
		steps []step
	}{
		{"lowest free address, reuse after release", []step{
			{op: "pools", pools: []allocator.Pool{auto("p", "10.0.0.0/31", "10.0.0.5")}},
			{op: "alloc", req: svc("a"), want: []string{"10.0.0.0"}, pool: "p"},
			{op: "alloc", req: svc("b"), want: []string{"10.0.0.1"}},
			{op: "alloc", req: svc("c"), want: []string{"10.0.0.5"}},
			{op: "alloc", req: svc("d"), wantErr: exhausted},
			{op: "alloc", req: svc("a"), want: []string{"10.0.0.0"}},
			{op: "release", req: svc("b")},
			{op: "alloc", req: svc("d"), want: []string{"10.0.0.1"}, check: stats("p", 3, 0)},
		}},
		{"avoid buggy IPs", []step{
			{op: "pools", pools: []allocator.Pool{{Name: "p", Addresses: rg("10.0.0.254-10.0.1.1", "10.0.2.0/31"), AutoAssign: true, AvoidBuggyIPs: true}},
				check: func(t *testing.T, a *allocator.Allocator) {
					if st, _ := a.PoolStats("p"); st.IPv4.Total.Int64() != 3 {
						t.Fatalf("total %v, want 3", st.IPv4.Total)
					}
				}},
			{op: "alloc", req: svc("a"), want: []string{"10.0.0.254"}},
			{op: "alloc", req: svc("b"), want: []string{"10.0.1.1"}},
			{op: "alloc", req: svc("c"), want: []string{"10.0.2.1"}},
			{op: "alloc", req: svc("d"), wantErr: exhausted},
			{op: "alloc", req: allocator.Request{Service: "e", Addresses: addrs("10.0.1.0")}, wantErr: allocator.ErrAddressNotInPool},
		}},
		{"priority, unset last, ties by name, then pools without allocation", []step{
			{op: "pools", pools: []allocator.Pool{
				auto("z-plain", "10.0.9.0/32"),
				auto("a-plain", "10.0.8.0/32"),
				withAlloc(auto("unset", "10.0.7.0/32"), allocator.ServiceAllocation{}),
				withAlloc(auto("p10", "10.0.1.0/32"), allocator.ServiceAllocation{Priority: 10}),
				withAlloc(auto("p5-b", "10.0.3.0/32"), allocator.ServiceAllocation{Priority: 5}),
				withAlloc(auto("p5-a", "10.0.2.0/32"), allocator.ServiceAllocation{Priority: 5}),
			}},
			{op: "alloc", req: svc("1"), pool: "p5-a"},
			{op: "alloc", req: svc("2"), pool: "p5-b"},
			{op: "alloc", req: svc("3"), pool: "p10"},
			{op: "alloc", req: svc("4"), pool: "unset"},
			{op: "alloc", req: svc("5"), pool: "a-plain"},
			{op: "alloc", req: svc("6"), pool: "z-plain"},
			{op: "alloc", req: svc("7"), wantErr: exhausted},
		}},
		{"namespaces and selectors", []step{
			{op: "pools", pools: []allocator.Pool{
				auto("default", "10.0.0.0/24"),
				withAlloc(auto("team-a", "10.1.0.0/24"), allocator.ServiceAllocation{Priority: 1, Namespaces: []string{"a"}}),
				withAlloc(auto("prod", "10.2.0.0/24"), allocator.ServiceAllocation{Priority: 2,
					NamespaceSelectors: []allocator.Selector{{MatchLabels: map[string]string{"env": "prod"}}}}),
				withAlloc(auto("web", "10.3.0.0/24"), allocator.ServiceAllocation{Priority: 3,
					ServiceSelectors: []allocator.Selector{{MatchExpressions: []allocator.Requirement{
						{Key: "app", Operator: allocator.OpIn, Values: []string{"web", "www"}},
						{Key: "legacy", Operator: allocator.OpDoesNotExist}}}}}),
				withAlloc(auto("a-web", "10.4.0.0/24"), allocator.ServiceAllocation{Priority: 4, Namespaces: []string{"a"},
					ServiceSelectors: []allocator.Selector{{MatchLabels: map[string]string{"app": "web"}}}}),
			}},
			{op: "alloc", req: inNS("x/1", "x", nil, nil), pool: "default"},
			{op: "alloc", req: inNS("a/1", "a", nil, nil), pool: "team-a"},
			{op: "alloc", req: inNS("p/1", "p", map[string]string{"env": "prod"}, nil), pool: "prod"},
			{op: "alloc", req: inNS("x/web", "x", nil, map[string]string{"app": "www"}), pool: "web"},
			{op: "alloc", req: inNS("x/old", "x", nil, map[string]string{"app": "web", "legacy": "1"}), pool: "default"},
			{op: "alloc", req: allocator.Request{Service: "b/web", Namespace: "b", Labels: map[string]string{"app": "web"}, Pool: "a-web"}, wantErr: allocator.ErrNoEligiblePool},
			{op: "alloc", req: allocator.Request{Service: "b/x", Namespace: "b", Addresses: addrs("10.1.0.9")}, wantErr: allocator.ErrNoEligiblePool},
			{op: "alloc", req: allocator.Request{Service: "a/web", Namespace: "a", Labels: map[string]string{"app": "web"}, Pool: "a-web"}, pool: "a-web", want: []string{"10.4.0.0"}},
			{op: "alloc", req: allocator.Request{Service: "a/x", Namespace: "a", Pool: "nope"}, wantErr: allocator.ErrUnknownPool},
		}},
		{"autoAssign false is only used on request", []step{
			{op: "pools", pools: []allocator.Pool{{Name: "manual", Addresses: rg("10.0.0.0/30")}}},
			{op: "alloc", req: svc("a"), wantErr: allocator.ErrNoEligiblePool},
			{op: "alloc", req: allocator.Request{Service: "a", Pool: "manual"}, want: []string{"10.0.0.0"}},
			{op: "alloc", req: allocator.Request{Service: "b", Addresses: addrs("10.0.0.3")}, want: []string{"10.0.0.3"}},
		}},
		{"requested address conflicts name the holder", []step{
			{op: "pools", pools: []allocator.Pool{auto("p", "10.0.0.0/29")}},
			{op: "alloc", req: allocator.Request{Service: "a", Addresses: addrs("10.0.0.4")}, want: []string{"10.0.0.4"}},
			{op: "alloc", req: allocator.Request{Service: "b", Addresses: addrs("10.0.0.4")}, wantErr: allocator.ErrAddressInUse, holder: "a"},
			{op: "alloc", req: allocator.Request{Service: "b", Addresses: addrs("10.9.0.4")}, wantErr: allocator.ErrAddressNotInPool},
			{op: "alloc", req: allocator.Request{Service: "b", Addresses: addrs("10.0.0.5"), Pool: "other"}, wantErr: allocator.ErrAddressNotInPool},
			{op: "alloc", req: svc("c"), want: []string{"10.0.0.0"}},
			// The request changes: the service moves, only because it asked.
			{op: "alloc", req: allocator.Request{Service: "a", Addresses: addrs("10.0.0.6")}, want: []string{"10.0.0.6"}},
			{op: "alloc", req: allocator.Request{Service: "a", Addresses: addrs("10.0.0.0")}, wantErr: allocator.ErrAddressInUse, holder: "c"},
			{op: "alloc", req: svc("a"), want: []string{"10.0.0.6"}},
		}},
		{"sharing", []step{
			{op: "pools", pools: []allocator.Pool{auto("p", "10.0.0.0/30")}},
			{op: "alloc", req: shared("dns-udp", "dns", 53), want: []string{"10.0.0.0"}},
			{op: "alloc", req: shared("dns-tcp", "dns", 54), want: []string{"10.0.0.0"}},
			{op: "alloc", req: shared("dns-dup", "dns", 53), want: []string{"10.0.0.1"}},
			{op: "alloc", req: shared("web", "web", 80), want: []string{"10.0.0.2"}},
			{op: "alloc", req: allocator.Request{Service: "x", Addresses: addrs("10.0.0.0"), SharingKey: "dns", Ports: []allocator.Port{{Protocol: allocator.TCP, Port: 54}}},
				wantErr: allocator.ErrSharingConflict, holder: "dns-tcp"},
			{op: "alloc", req: allocator.Request{Service: "x", Addresses: addrs("10.0.0.0"), SharingKey: "dns", BackendKey: "app=dns",
				Ports: []allocator.Port{{Protocol: allocator.UDP, Port: 54}}}, wantErr: allocator.ErrSharingConflict},
			{op: "alloc", req: allocator.Request{Service: "x", Addresses: addrs("10.0.0.0"), SharingKey: "other"}, wantErr: allocator.ErrAddressInUse, holder: "dns-tcp"},
			{op: "alloc", req: allocator.Request{Service: "x", Addresses: addrs("10.0.0.0"), SharingKey: "dns",
				Ports: []allocator.Port{{Protocol: allocator.UDP, Port: 54}}}, want: []string{"10.0.0.0"}},
			// A sole holder changes its key in place.
			{op: "alloc", req: shared("web", "web2", 80), want: []string{"10.0.0.2"}},
			{op: "alloc", req: shared("web-b", "web2", 81), want: []string{"10.0.0.2"}},
			// A holder that no longer fits its co-holders moves.
			{op: "alloc", req: shared("web-b", "web2", 80), want: []string{"10.0.0.3"}},
			{op: "alloc", req: shared("full", "zzz"), wantErr: exhausted},
			{op: "release", req: svc("dns-udp")},
			{op: "release", req: svc("dns-tcp")},
			{op: "release", req: svc("x")},
			{op: "alloc", req: shared("full", "zzz"), want: []string{"10.0.0.0"}, check: stats("p", 4, 0)},
		}},
		{"dual-stack from one pool", []step{
			{op: "pools", pools: []allocator.Pool{auto("a-v4", "10.0.0.0/30"), auto("b-dual", "10.1.0.0/30", "fd00::/127"), auto("c-v6", "fd01::/64")}},
			{op: "alloc", req: dual("r", allocator.RequireDualStack, allocator.IPv6), want: []string{"fd00::", "10.1.0.0"}, pool: "b-dual"},
			{op: "alloc", req: dual("p", allocator.PreferDualStack, 0), want: []string{"10.1.0.1", "fd00::1"}, pool: "b-dual"},
			{op: "alloc", req: dual("r2", allocator.RequireDualStack, 0), wantErr: exhausted},
			// PreferDualStack settles for the primary family from the first pool...
			{op: "alloc", req: dual("p2", allocator.PreferDualStack, allocator.IPv4), want: []string{"10.0.0.0"}, pool: "a-v4"},
			{op: "alloc", req: dual("s6", allocator.SingleStack, allocator.IPv6), want: []string{"fd01::"}, pool: "c-v6"},
			{op: "alloc", req: dual("p3", allocator.PreferDualStack, allocator.IPv4), want: []string{"10.0.0.1"}, pool: "a-v4"},
			{op: "pools", pools: []allocator.Pool{auto("a-v4", "10.0.0.0/30"), auto("b-dual", "10.1.0.0/30", "fd00::/127"), auto("c-v6", "fd01::/64"), auto("d-dual", "10.2.0.0/30", "fd02::/127")}},
			{op: "alloc", req: dual("r3", allocator.RequireDualStack, 0), want: []string{"10.2.0.0", "fd02::"}, pool: "d-dual"},
			{op: "alloc", req: dual("r4", allocator.RequireDualStack, 0), want: []string{"10.2.0.1", "fd02::1"}},
			{op: "alloc", req: dual("p4", allocator.PreferDualStack, 0), want: []string{"10.0.0.2"}, pool: "a-v4"},
		}},
		{"PreferDualStack adds the missing family later from the same pool", []step{
			{op: "pools", pools: []allocator.Pool{auto("p", "10.0.0.0/30", "fd00::/128")}},
			{op: "alloc", req: dual("six", allocator.SingleStack, allocator.IPv6), want: []string{"fd00::"}},
			{op: "alloc", req: dual("pref", allocator.PreferDualStack, 0), want: []string{"10.0.0.0"}},
			{op: "release", req: svc("six")},
			{op: "alloc", req: dual("pref", allocator.PreferDualStack, 0), want: []string{"10.0.0.0", "fd00::"}},
			// Back to single stack drops the secondary family in place.
			{op: "alloc", req: dual("pref", allocator.SingleStack, allocator.IPv4), want: []string{"10.0.0.0"}, check: stats("p", 1, 0)},
		}},
		{"family unavailable", []step{
			{op: "pools", pools: []allocator.Pool{auto("p", "10.0.0.0/30")}},
			{op: "alloc", req: dual("a", allocator.SingleStack, allocator.IPv6), wantErr: allocator.ErrFamilyUnavailable},
			{op: "alloc", req: dual("a", allocator.RequireDualStack, allocator.IPv4), wantErr: allocator.ErrFamilyUnavailable},
			{op: "alloc", req: allocator.Request{Service: "a", Addresses: addrs("10.0.0.1", "10.0.0.2"), Families: allocator.FamilyPolicy{Stack: allocator.RequireDualStack}}, wantErr: allocator.ErrInvalidRequest},
			{op: "alloc", req: allocator.Request{Service: "a", Addresses: addrs("10.0.0.1", "fd00::1")}, wantErr: allocator.ErrInvalidRequest},
			{op: "alloc", req: allocator.Request{}, wantErr: allocator.ErrInvalidRequest},
			{op: "alloc", req: allocator.Request{Service: "a", Addresses: []netip.Addr{{}}}, wantErr: allocator.ErrInvalidRequest},
		}},
		{"restore is idempotent and refuses conflicts", []step{
			{op: "pools", pools: []allocator.Pool{auto("p", "10.0.0.0/29", "fd00::/120")}},
			{op: "assign", req: svc("a"), addrs: []string{"10.0.0.5"}, want: []string{"10.0.0.5"}, pool: "p"},
			{op: "assign", req: svc("a"), addrs: []string{"10.0.0.5"}, want: []string{"10.0.0.5"}},
			{op: "assign", req: svc("b"), addrs: []string{"10.0.0.5"}, wantErr: allocator.ErrAddressInUse, holder: "a"},
			{op: "assign", req: svc("b"), addrs: []string{"10.9.9.9"}, wantErr: allocator.ErrAddressNotInPool},
			{op: "assign", req: dual("d", allocator.RequireDualStack, allocator.IPv6), addrs: []string{"10.0.0.0", "fd00::7"}, want: []string{"fd00::7", "10.0.0.0"}},
			{op: "alloc", req: svc("c"), want: []string{"10.0.0.1"}},
			{op: "alloc", req: dual("d", allocator.RequireDualStack, allocator.IPv6), want: []string{"fd00::7", "10.0.0.0"}},
			{op: "alloc", req: svc("a"), want: []string{"10.0.0.5"}, check: stats("p", 3, 1)},
		}},
		{"pool changes strand, disqualify and re-home, never move", []step{
			{op: "pools", pools: []allocator.Pool{auto("p", "10.0.0.0/30"), auto("q", "10.1.0.0/30")}},
			{op: "alloc", req: inNS("a", "ns", nil, nil), want: []string{"10.0.0.0"}},
			{op: "alloc", req: inNS("b", "ns", nil, nil), want: []string{"10.0.0.1"}},
			{op: "alloc", req: inNS("c", "ns", nil, nil), want: []string{"10.0.0.2"}},
			{op: "whatif", pools: []allocator.Pool{auto("p", "10.0.0.0/31"), auto("r", "10.0.0.2/31")},
				changes: []string{ch("c", Repooled, "p", "r")}},
			{op: "whatif", pools: []allocator.Pool{auto("p", "10.0.0.1/32")},
				changes: []string{ch("a", Stranded, "p", ""), ch("c", Stranded, "p", "")}},
			{op: "whatif", pools: []allocator.Pool{auto("p", "10.0.0.0/31", "10.0.0.1/32", "10.0.0.2"), auto("p", "10.9.0.0/30")}, wantErr: allocator.ErrInvalidPool},
			{op: "pools", pools: []allocator.Pool{
				withAlloc(auto("p", "10.0.0.0/31"), allocator.ServiceAllocation{Namespaces: []string{"other"}}), auto("q", "10.1.0.0/30")},
				changes: []string{ch("a", Ineligible, "p", "p"), ch("b", Ineligible, "p", "p"), ch("c", Stranded, "p", "")}},
			{op: "alloc", req: inNS("a", "ns", nil, nil), want: []string{"10.0.0.0"}, flags: "ineligible"},
			{op: "alloc", req: inNS("c", "ns", nil, nil), want: []string{"10.0.0.2"}, pool: "p", flags: "stranded"},
			{op: "alloc", req: inNS("d", "ns", nil, nil), want: []string{"10.1.0.0"}, pool: "q"},
			// The stranded address comes back into a pool: still c's.
			{op: "pools", pools: []allocator.Pool{auto("p", "10.0.0.0/30"), auto("q", "10.1.0.0/30")}},
			{op: "alloc", req: inNS("e", "ns", nil, nil), want: []string{"10.0.0.3"}},
			{op: "alloc", req: inNS("c", "ns", nil, nil), want: []string{"10.0.0.2"}, flags: ""},
			{op: "release", req: svc("c")},
			{op: "alloc", req: inNS("f", "ns", nil, nil), want: []string{"10.0.0.2"}},
		}},
		{"overlapping pools name both pools and the range", []step{
			{op: "pools", pools: []allocator.Pool{auto("b", "10.0.0.0/24"), auto("a", "10.0.0.128-10.0.1.5")}, wantErr: allocator.ErrOverlappingPools,
				check: nil},
			{op: "pools", pools: []allocator.Pool{auto("a", "10.0.0.0/24", "10.0.0.7")}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { runSteps(t, tc.steps) })
	}
}

func TestOverlapError(t *testing.T) {
	_, err := allocator.New(allocator.Config{}).SetPools([]allocator.Pool{
		{Name: "b", Addresses: ranges(t, "10.0.0.0/24")},
		{Name: "a", Addresses: ranges(t, "fd00::/64", "10.0.0.128-10.0.1.5")},
	})
	var oe *allocator.OverlapError
	if !errors.As(err, &oe) || !errors.Is(err, allocator.ErrOverlappingPools) {
		t.Fatalf("err = %v, want an *OverlapError", err)
	}
	if oe.PoolA != "a" || oe.PoolB != "b" || oe.Range.String() != "10.0.0.128-10.0.0.255" {
		t.Fatalf("overlap = %+v", oe)
	}
}

func TestHugePoolAccounting(t *testing.T) {
	pow2 := func(n uint) *big.Int { return new(big.Int).Lsh(big.NewInt(1), n) }
	tests := []struct {
		name  string
		cidrs []string
		v4    *big.Int
		v6    *big.Int
	}{
		{"/64", []string{"fd00::/64"}, big.NewInt(0), pow2(64)},
		{"/48 and /64", []string{"fd00::/48", "fd01::/64"}, big.NewInt(0), new(big.Int).Add(pow2(80), pow2(64))},
		{"everything", []string{"::/0", "0.0.0.0/0"}, pow2(32), pow2(128)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := allocator.New(allocator.Config{})
			if _, err := a.SetPools([]allocator.Pool{{Name: "p", Addresses: ranges(t, tc.cidrs...), AutoAssign: true}}); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if _, err := a.Allocate(allocator.Request{Service: fmt.Sprint(i), Families: allocator.FamilyPolicy{Primary: allocator.IPv6}}); err != nil {
					t.Fatal(err)
				}
			}
			st, _ := a.PoolStats("p")
			if st.IPv4.Total.Cmp(tc.v4) != 0 || st.IPv6.Total.Cmp(tc.v6) != 0 || st.IPv6.InUse != 3 || st.Services != 3 {
				t.Fatalf("stats = %+v", st)
			}
			if want := new(big.Int).Sub(tc.v6, big.NewInt(3)); st.IPv6.Available.Cmp(want) != 0 {
				t.Fatalf("available = %v, want %v", st.IPv6.Available, want)
			}
		})
	}
}

func TestTopOfAddressSpace(t *testing.T) {
	a := allocator.New(allocator.Config{})
	if _, err := a.SetPools([]allocator.Pool{{Name: "p", Addresses: ranges(t, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127", "255.255.255.254/31"), AutoAssign: true, AvoidBuggyIPs: true}}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := range 4 {
		as, err := a.Allocate(allocator.Request{Service: fmt.Sprint(i), Families: allocator.FamilyPolicy{Stack: allocator.PreferDualStack, Primary: allocator.IPv6}})
		if err != nil {
			got = append(got, "err")
			continue
		}
		got = append(got, fmt.Sprint(as.Addresses))
	}
	want := []string{"[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe 255.255.255.254]", "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]", "err", "err"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestParsePoolAddresses(t *testing.T) {
	tests := []struct {
		in   string
		want string // range, or "" for an error
	}{
		{"192.168.10.0/24", "192.168.10.0-192.168.10.255"},
		{"192.168.10.7/24", "192.168.10.0-192.168.10.255"},
		{"192.168.9.1-192.168.9.5", "192.168.9.1-192.168.9.5"},
		{" 192.168.9.1 - 192.168.9.5 ", "192.168.9.1-192.168.9.5"},
		{"fc00:f853:ccd:e799::/124", "fc00:f853:ccd:e799::-fc00:f853:ccd:e799::f"},
		{"fc00::1-fc00::5", "fc00::1-fc00::5"},
		{"10.0.0.1", "10.0.0.1-10.0.0.1"},
		{"::1", "::1-::1"},
		{"", ""},
		{"10.0.0.5-10.0.0.1", ""},
		{"10.0.0.1-fc00::1", ""},
		{"10.0.0.0/33", ""},
		{"10.0.0.1-", ""},
		{"fe80::1%eth0", ""},
		{"hello", ""},
		{"10.0.0.1-10.0.0.2-10.0.0.3", ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			rs, err := allocator.ParsePoolAddresses([]string{tc.in})
			if tc.want == "" {
				if !errors.Is(err, allocator.ErrInvalidPool) {
					t.Fatalf("err = %v, want ErrInvalidPool", err)
				}
				return
			}
			if err != nil || len(rs) != 1 || rs[0].String() != tc.want {
				t.Fatalf("got %v, %v; want %s", rs, err, tc.want)
			}
		})
	}
}

func TestSelector(t *testing.T) {
	labels := map[string]string{"app": "web", "tier": "front"}
	tests := []struct {
		name string
		sel  allocator.Selector
		want bool
	}{
		{"empty matches all", allocator.Selector{}, true},
		{"labels", allocator.Selector{MatchLabels: map[string]string{"app": "web"}}, true},
		{"labels mismatch", allocator.Selector{MatchLabels: map[string]string{"app": "db"}}, false},
		{"in", allocator.Selector{MatchExpressions: []allocator.Requirement{{Key: "tier", Operator: allocator.OpIn, Values: []string{"back", "front"}}}}, true},
		{"notin absent", allocator.Selector{MatchExpressions: []allocator.Requirement{{Key: "x", Operator: allocator.OpNotIn, Values: []string{"y"}}}}, true},
		{"notin present", allocator.Selector{MatchExpressions: []allocator.Requirement{{Key: "app", Operator: allocator.OpNotIn, Values: []string{"web"}}}}, false},
		{"exists", allocator.Selector{MatchExpressions: []allocator.Requirement{{Key: "app", Operator: allocator.OpExists}}}, true},
		{"does not exist", allocator.Selector{MatchExpressions: []allocator.Requirement{{Key: "app", Operator: allocator.OpDoesNotExist}}}, false},
		{"unknown operator", allocator.Selector{MatchExpressions: []allocator.Requirement{{Key: "app", Operator: "Gt"}}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.sel.Matches(labels); got != tc.want {
				t.Fatalf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
	_, err := allocator.New(allocator.Config{}).SetPools([]allocator.Pool{{Name: "p", Addresses: ranges(t, "10.0.0.0/30"),
		Allocation: &allocator.ServiceAllocation{ServiceSelectors: []allocator.Selector{{MatchExpressions: []allocator.Requirement{{Key: "app", Operator: allocator.OpIn}}}}}}})
	if !errors.Is(err, allocator.ErrInvalidPool) {
		t.Fatalf("In without values: err = %v, want ErrInvalidPool", err)
	}
}

func TestZeroAllocator(t *testing.T) {
	var a allocator.Allocator
	if _, err := a.Allocate(allocator.Request{Service: "a"}); !errors.Is(err, allocator.ErrNoEligiblePool) {
		t.Fatalf("err = %v", err)
	}
	if a.Release("a") || len(a.Stats()) != 0 || len(a.Assignments()) != 0 || len(a.Pools()) != 0 {
		t.Fatal("zero allocator not empty")
	}
	if _, err := a.SetPools([]allocator.Pool{{Name: "p", Addresses: ranges(t, "10.0.0.0/30"), AutoAssign: true}}); err != nil {
		t.Fatal(err)
	}
	if as, err := a.Allocate(allocator.Request{Service: "a"}); err != nil || as.Addresses[0] != netip.MustParseAddr("10.0.0.0") {
		t.Fatalf("got %v, %v", as, err)
	}
}

func TestAllocateAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counting is slow-ish under -short budgets")
	}
	a := allocator.New(allocator.Config{})
	if _, err := a.SetPools([]allocator.Pool{{Name: "p", Addresses: ranges(t, "10.0.0.0/8"), AutoAssign: true}}); err != nil {
		t.Fatal(err)
	}
	req := allocator.Request{Service: "a"}
	n := testing.AllocsPerRun(100, func() {
		if _, err := a.Allocate(req); err != nil {
			t.Fatal(err)
		}
		a.Release("a")
	})
	if n > 12 {
		t.Fatalf("Allocate+Release costs %v allocations", n)
	}
}

// TestSharingPicksLowest checks that a keyed request takes the lowest
// address it can share, stepping over incompatible ones, before the first
// free address, across the ranges of a pool.
func TestSharingPicksLowest(t *testing.T) {
	a := allocator.New(allocator.Config{})
	if _, err := a.SetPools([]allocator.Pool{
		{Name: "p", Addresses: ranges(t, "10.0.1.0/30", "10.0.0.0/30"), AutoAssign: true},
		{Name: "q", Addresses: ranges(t, "10.0.2.0/30"), AutoAssign: true, Allocation: &allocator.ServiceAllocation{Priority: 1}},
	}); err != nil {
		t.Fatal(err)
	}
	req := func(name, key, backend string, port uint16, pool string) allocator.Request {
		return allocator.Request{Service: name, SharingKey: key, BackendKey: backend, Pool: pool,
			Ports: []allocator.Port{{Protocol: allocator.TCP, Port: port}}}
	}
	for _, tc := range []struct {
		name string
		req  allocator.Request
		want string
	}{
		{"first", req("a1", "k", "", 1, "p"), "10.0.0.0"},
		{"port clash", req("a2", "k", "", 1, "p"), "10.0.0.1"},
		{"no key", allocator.Request{Service: "b", Pool: "p"}, "10.0.0.2"},
		{"all clash", req("a3", "k", "", 1, "p"), "10.0.0.3"},
		{"next range", req("c", "k", "", 1, "p"), "10.0.1.0"},
		{"other pool", req("q1", "k", "", 1, ""), "10.0.2.0"},
		{"lowest shared", req("e", "k", "", 2, "p"), "10.0.0.0"},
		{"skip one", req("f", "k", "", 2, "p"), "10.0.0.1"},
		{"backend differs", req("g", "k", "x", 2, "p"), "10.0.1.1"},
		{"same backend", req("h", "k", "x", 3, "p"), "10.0.1.1"},
		{"key of another pool ignored", req("q2", "k", "", 2, ""), "10.0.2.0"},
	} {
		as, err := a.Allocate(tc.req)
		if err != nil || len(as.Addresses) != 1 || as.Addresses[0] != netip.MustParseAddr(tc.want) {
			t.Fatalf("%s: got %v, %v; want %s", tc.name, as.Addresses, err, tc.want)
		}
	}
	a.Release("b")
	if as, err := a.Allocate(req("i", "k", "y", 4, "p")); err != nil || as.Addresses[0] != netip.MustParseAddr("10.0.0.2") {
		t.Fatalf("freed address: got %v, %v", as, err)
	}
}

package membership

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
)

func addrs(n int) []netip.Addr {
	var out []netip.Addr
	for i := 0; i < n; i++ {
		out = append(out, netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}))
		out = append(out, netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)}))
	}
	return out
}

func cands(as []netip.Addr) []Candidate {
	var c []Candidate
	for _, a := range as {
		c = append(c, Candidate{Addr: a})
	}
	return c
}

func TestRankDeterministic(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.200")
	nodes := []string{"node1", "node2", "node3", "node4"}
	want := Rank(a, nodes)
	rev := slices.Clone(nodes)
	slices.Reverse(rev)
	if got := Rank(a, rev); !slices.Equal(got, want) {
		t.Fatalf("order depends on input: %v vs %v", got, want)
	}
	if got := Rank(a, append(nodes, "node2")); !slices.Equal(got, want) {
		t.Fatalf("duplicates change the ranking: %v", got)
	}
	if len(want) != 4 {
		t.Fatalf("Rank = %v", want)
	}
}

func TestElectMovesOnlyTheLeaversAddresses(t *testing.T) {
	nodes := []string{"node1", "node2", "node3", "node4", "node5"}
	c := cands(addrs(100))
	before := Elect("node1", c, nodes)
	for _, gone := range nodes {
		t.Run("without "+gone, func(t *testing.T) {
			rest := slices.DeleteFunc(slices.Clone(nodes), func(n string) bool { return n == gone })
			after := Elect("node1", c, rest)
			for a, owner := range before.Owners {
				if owner != gone && after.Owners[a] != owner {
					t.Errorf("%v moved from %s to %s though %s left", a, owner, after.Owners[a], gone)
				}
				if owner == gone && after.Owners[a] != Rank(a, nodes)[1] {
					t.Errorf("%v went to %s, not the next in line", a, after.Owners[a])
				}
			}
		})
	}
}

func TestElectSpreadsAndWatches(t *testing.T) {
	nodes := []string{"node1", "node2", "node3"}
	c := cands(addrs(30))
	e := Elect("node2", c, nodes)
	for _, n := range nodes {
		if len(e.OwnedBy(n)) == 0 {
			t.Errorf("%s owns nothing out of %d addresses", n, len(c))
		}
	}
	var want []string
	for _, x := range c {
		if r := Rank(x.Addr, nodes); r[1] == "node2" && !slices.Contains(want, r[0]) {
			want = append(want, r[0])
		}
	}
	slices.Sort(want)
	if !slices.Equal(e.Watch, want) {
		t.Fatalf("Watch = %v, want %v", e.Watch, want)
	}
}

func TestElectEligible(t *testing.T) {
	a := netip.MustParseAddr("2001:db8:1::200")
	tests := []struct {
		name     string
		eligible []string
		alive    []string
		want     string
	}{
		{name: "all alive", alive: []string{"a"}, want: "a"},
		{name: "restricted", eligible: []string{"b"}, alive: []string{"a", "b"}, want: "b"},
		{name: "eligible but dead", eligible: []string{"c"}, alive: []string{"a", "b"}, want: ""},
		{name: "nobody", eligible: []string{}, alive: []string{"a"}, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := Elect("a", []Candidate{{Addr: a, Eligible: tt.eligible}}, tt.alive)
			if got := e.Owners[a]; got != tt.want {
				t.Fatalf("owner = %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzElect(f *testing.F) {
	f.Add("node1,node2,node3", []byte{192, 0, 2, 1}, uint8(1))
	f.Add("a,a,b", []byte{32, 1, 13, 184, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, uint8(0))
	f.Fuzz(func(t *testing.T, csv string, ip []byte, drop uint8) {
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			return
		}
		var nodes []string
		for i, n := range slices.Collect(func(yield func(string) bool) {
			start := 0
			for i := 0; i <= len(csv); i++ {
				if i == len(csv) || csv[i] == ',' {
					if !yield(csv[start:i]) {
						return
					}
					start = i + 1
				}
			}
		}) {
			nodes = append(nodes, fmt.Sprint(i%7, n))
		}
		all := Elect("x", []Candidate{{Addr: a}}, nodes)
		owner, ok := all.Owners[a]
		if !ok || !slices.Contains(nodes, owner) {
			t.Fatalf("owner %q not among %v", owner, nodes)
		}
		// Removing a node that is not the owner never moves the address.
		if len(nodes) > 1 {
			gone := nodes[int(drop)%len(nodes)]
			if gone != owner {
				rest := slices.DeleteFunc(slices.Clone(nodes), func(n string) bool { return n == gone })
				if got := Elect("x", []Candidate{{Addr: a}}, rest).Owners[a]; got != owner {
					t.Fatalf("removing %q moved %v from %q to %q", gone, a, owner, got)
				}
			}
		}
	})
}

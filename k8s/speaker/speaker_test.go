package speaker

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lbkit/lbkit/announce"
	"github.com/lbkit/lbkit/k8s/api/v1beta1"
	"github.com/lbkit/lbkit/k8s/api/v1beta2"
	"github.com/lbkit/lbkit/k8s/config"
	"github.com/lbkit/lbkit/k8s/source"
	"github.com/lbkit/lbkit/membership"
)

var threeNodes = []string{"node-a", "node-b", "node-c"}

func nodes(names []string, labels map[string]map[string]string, mods map[string]func(*corev1.Node)) []*corev1.Node {
	var out []*corev1.Node
	for _, n := range names {
		var ms []func(*corev1.Node)
		if m := mods[n]; m != nil {
			ms = append(ms, m)
		}
		out = append(out, node(n, labels[n], ms...))
	}
	return out
}

// winner is the node membership elects for addr among eligible.
func winner(addr string, eligible []string) string {
	return membership.Rank(netip.MustParseAddr(addr), eligible)[0]
}

// loser is a node of eligible that membership does not elect for addr.
func loser(addr string, eligible []string) string {
	return membership.Rank(netip.MustParseAddr(addr), eligible)[1]
}

func TestAnnouncements(t *testing.T) {
	const ip = "192.0.2.10"
	blue := []v1beta1.IPAddressPool{ipPool("blue", "192.0.2.0/24"), ipPool("green", "198.51.100.0/24")}
	allL2 := []v1beta1.L2Advertisement{l2Ad("all", nil, nil)}
	allReady := slice("web", endpoint{"node-a", true}, endpoint{"node-b", true}, endpoint{"node-c", true})

	tests := []struct {
		name    string
		c       cluster
		alive   []string // nil: every node
		wantL2  string   // the node announcing over layer 2, "" none
		wantIfs []string
		wantBGP []string // nodes advertising over BGP
		check   func(t *testing.T, ms map[string]*member)
	}{
		{
			name: "L2 election across 3 nodes",
			c: cluster{nodes: nodes(threeNodes, nil, nil), services: []*corev1.Service{lbService("web", "blue", ip)},
				slices: []*discoveryv1.EndpointSlice{allReady}, res: config.Resources{Pools: blue, L2Advertisements: allL2}},
			wantL2: winner(ip, threeNodes),
		},
		{
			name: "L2 only among live speakers",
			c: cluster{nodes: nodes(threeNodes, nil, nil), services: []*corev1.Service{lbService("web", "blue", ip)},
				slices: []*discoveryv1.EndpointSlice{allReady}, res: config.Resources{Pools: blue, L2Advertisements: allL2}},
			alive:  without(threeNodes, winner(ip, threeNodes)),
			wantL2: winner(ip, without(threeNodes, winner(ip, threeNodes))),
		},
		{
			name: "L2 node selector",
			c: cluster{nodes: nodes(threeNodes, map[string]map[string]string{loser(ip, threeNodes): {"edge": "true"}}, nil),
				services: []*corev1.Service{lbService("web", "blue", ip)}, slices: []*discoveryv1.EndpointSlice{allReady},
				res: config.Resources{Pools: blue, L2Advertisements: []v1beta1.L2Advertisement{
					l2Ad("edge", []string{"blue"}, map[string]string{"edge": "true"}, "eth1")}}},
			wantL2:  loser(ip, threeNodes),
			wantIfs: []string{"eth1"},
		},
		{
			name: "L2 interfaces are the union of the advertisements",
			c: cluster{nodes: nodes(threeNodes, nil, nil), services: []*corev1.Service{lbService("web", "blue", ip)},
				slices: []*discoveryv1.EndpointSlice{allReady}, res: config.Resources{Pools: blue, L2Advertisements: []v1beta1.L2Advertisement{
					l2Ad("one", []string{"blue"}, nil, "eth2", "eth0"), l2Ad("two", []string{"blue"}, nil, "eth1", "eth0")}}},
			wantL2:  winner(ip, threeNodes),
			wantIfs: []string{"eth0", "eth1", "eth2"},
		},
		{
			name: "L2 advertisement of another pool",
			c: cluster{nodes: nodes(threeNodes, nil, nil), services: []*corev1.Service{lbService("web", "blue", ip)},
				slices: []*discoveryv1.EndpointSlice{allReady}, res: config.Resources{Pools: blue, L2Advertisements: []v1beta1.L2Advertisement{
					l2Ad("green", []string{"green"}, nil)}}},
		},
		{
			name: "exclusion label",
			c: cluster{nodes: nodes(threeNodes, map[string]map[string]string{winner(ip, threeNodes): {LabelExcludeFromLB: ""}}, nil),
				services: []*corev1.Service{lbService("web", "blue", ip)}, slices: []*discoveryv1.EndpointSlice{allReady},
				res: config.Resources{Pools: blue, L2Advertisements: allL2}},
			wantL2: winner(ip, without(threeNodes, winner(ip, threeNodes))),
		},
		{
			name: "NetworkUnavailable",
			c: cluster{nodes: nodes(threeNodes, nil, map[string]func(*corev1.Node){winner(ip, threeNodes): networkUnavailable}),
				services: []*corev1.Service{lbService("web", "blue", ip)}, slices: []*discoveryv1.EndpointSlice{allReady},
				res: config.Resources{Pools: blue, L2Advertisements: allL2}},
			wantL2: winner(ip, without(threeNodes, winner(ip, threeNodes))),
		},
		{
			name: "ETP Local moves the announcement to the endpoint's node",
			c: cluster{nodes: nodes(threeNodes, nil, nil), services: []*corev1.Service{local(lbService("web", "blue", ip))},
				slices: []*discoveryv1.EndpointSlice{slice("web", endpoint{loser(ip, threeNodes), true},
					endpoint{winner(ip, threeNodes), false})},
				res: config.Resources{Pools: blue, L2Advertisements: allL2}},
			wantL2: loser(ip, threeNodes),
		},
		{
			name: "no ready endpoint, no announcement",
			c: cluster{nodes: nodes(threeNodes, nil, nil), services: []*corev1.Service{lbService("web", "blue", ip)},
				slices: []*discoveryv1.EndpointSlice{slice("web", endpoint{"node-a", false})},
				res:    config.Resources{Pools: blue, L2Advertisements: allL2, BGPAdvertisements: []v1beta1.BGPAdvertisement{bgpAd("all", nil, nil, nil)}}},
		},
		{
			name: "no endpoint slice, no announcement",
			c: cluster{nodes: nodes(threeNodes, nil, nil), services: []*corev1.Service{lbService("web", "blue", ip)},
				res: config.Resources{Pools: blue, L2Advertisements: allL2}},
		},
		{
			name: "service without address",
			c: cluster{nodes: nodes(threeNodes, nil, nil), services: []*corev1.Service{lbService("web", "blue")},
				slices: []*discoveryv1.EndpointSlice{allReady}, res: config.Resources{Pools: blue, L2Advertisements: allL2}},
		},
		{
			name: "pool found by address without the annotation",
			c: cluster{nodes: nodes(threeNodes, nil, nil), services: []*corev1.Service{lbService("web", "", ip)},
				slices: []*discoveryv1.EndpointSlice{allReady}, res: config.Resources{Pools: blue, L2Advertisements: allL2}},
			wantL2: winner(ip, threeNodes),
		},
		{
			name: "BGP from every node, with communities per pool",
			c: cluster{nodes: nodes(threeNodes, nil, nil), services: []*corev1.Service{lbService("web", "blue", ip)},
				slices: []*discoveryv1.EndpointSlice{allReady},
				res: config.Resources{Pools: blue, Peers: []v1beta2.BGPPeer{bgpPeer("r1", "192.0.2.1", nil)},
					BGPAdvertisements: []v1beta1.BGPAdvertisement{
						bgpAd("blue", []string{"blue"}, nil, func(s *v1beta1.BGPAdvertisementSpec) {
							s.Communities = []string{"64512:100", "no-export"}
							s.LocalPref = 50
						}),
						bgpAd("green", []string{"green"}, nil, func(s *v1beta1.BGPAdvertisementSpec) { s.Communities = []string{"64512:200"} }),
					}}},
			wantBGP: threeNodes,
			check: func(t *testing.T, ms map[string]*member) {
				a, _ := ms["node-a"].bgp.get("default/web")
				want := []announce.BGPAdvertisement{{AggregationLength: 32, AggregationLengthV6: 128, LocalPref: 50,
					Communities: []announce.Community{{Value: 64512<<16 | 100}, {Value: 0xFFFFFF01}}}}
				if !equalAdvs(a.BGP, want) {
					t.Errorf("BGP = %+v, want %+v", a.BGP, want)
				}
			},
		},
		{
			name: "BGP advertisement node selector",
			c: cluster{nodes: nodes(threeNodes, map[string]map[string]string{"node-b": {"bgp": "yes"}}, nil),
				services: []*corev1.Service{lbService("web", "blue", ip)}, slices: []*discoveryv1.EndpointSlice{allReady},
				res: config.Resources{Pools: blue, BGPAdvertisements: []v1beta1.BGPAdvertisement{
					bgpAd("sel", nil, map[string]string{"bgp": "yes"}, nil)}}},
			wantBGP: []string{"node-b"},
		},
		{
			name: "ETP Local BGP only from endpoint nodes",
			c: cluster{nodes: nodes(threeNodes, nil, nil), services: []*corev1.Service{local(lbService("web", "blue", ip))},
				slices: []*discoveryv1.EndpointSlice{slice("web", endpoint{"node-a", true}, endpoint{"node-c", true}, endpoint{"node-b", false})},
				res:    config.Resources{Pools: blue, BGPAdvertisements: []v1beta1.BGPAdvertisement{bgpAd("all", nil, nil, nil)}}},
			wantBGP: []string{"node-a", "node-c"},
		},
		{
			name: "BGP not from an excluded node",
			c: cluster{nodes: nodes(threeNodes, map[string]map[string]string{"node-a": {LabelExcludeFromLB: "true"}}, nil),
				services: []*corev1.Service{lbService("web", "blue", ip)}, slices: []*discoveryv1.EndpointSlice{allReady},
				res: config.Resources{Pools: blue, BGPAdvertisements: []v1beta1.BGPAdvertisement{bgpAd("all", nil, nil, nil)}}},
			wantBGP: []string{"node-b", "node-c"},
		},
		{
			name: "L2 and BGP together",
			c: cluster{nodes: nodes(threeNodes, nil, nil), services: []*corev1.Service{lbService("web", "blue", ip)},
				slices: []*discoveryv1.EndpointSlice{allReady},
				res:    config.Resources{Pools: blue, L2Advertisements: allL2, BGPAdvertisements: []v1beta1.BGPAdvertisement{bgpAd("all", nil, nil, nil)}}},
			wantL2:  winner(ip, threeNodes),
			wantBGP: threeNodes,
		},
		{
			name: "other load balancer class",
			c: cluster{nodes: nodes(threeNodes, nil, nil), services: []*corev1.Service{withClass(lbService("web", "blue", ip), "other")},
				slices: []*discoveryv1.EndpointSlice{allReady}, res: config.Resources{Pools: blue, L2Advertisements: allL2}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alive := tt.alive
			if alive == nil {
				alive = threeNodes
			}
			ms := map[string]*member{}
			for _, n := range threeNodes {
				ms[n] = newMember(t, &tt.c, n, alive)
				if !slices.Contains(alive, n) {
					continue // a dead speaker does nothing
				}
				ms[n].sync(t, "default/web")
			}
			var gotL2, gotBGP []string
			for _, n := range threeNodes {
				if a, ok := ms[n].l2.get("default/web"); ok {
					gotL2 = append(gotL2, n)
					if !slices.Equal(a.L2.Interfaces, tt.wantIfs) {
						t.Errorf("%s: interfaces = %v, want %v", n, a.L2.Interfaces, tt.wantIfs)
					}
					if !slices.Equal(a.Addresses, []netip.Addr{netip.MustParseAddr(ip)}) {
						t.Errorf("%s: addresses = %v", n, a.Addresses)
					}
				}
				if _, ok := ms[n].bgp.get("default/web"); ok {
					gotBGP = append(gotBGP, n)
				}
			}
			var wantL2 []string
			if tt.wantL2 != "" {
				wantL2 = []string{tt.wantL2}
			}
			if !slices.Equal(gotL2, wantL2) {
				t.Errorf("layer 2 announced by %v, want %v", gotL2, wantL2)
			}
			if !slices.Equal(gotBGP, tt.wantBGP) {
				t.Errorf("BGP advertised by %v, want %v", gotBGP, tt.wantBGP)
			}
			if tt.check != nil {
				tt.check(t, ms)
			}
		})
	}
}

// TestElectionSpreads checks, over many addresses, that exactly one of
// three speakers announces each and that the load is spread.
func TestElectionSpreads(t *testing.T) {
	c := &cluster{nodes: nodes(threeNodes, nil, nil),
		res: config.Resources{Pools: []v1beta1.IPAddressPool{ipPool("blue", "192.0.2.0/24")},
			L2Advertisements: []v1beta1.L2Advertisement{l2Ad("all", nil, nil)}}}
	for i := 1; i <= 30; i++ {
		name := "svc" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		c.services = append(c.services, lbService(name, "blue", netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}).String()))
		c.slices = append(c.slices, slice(name, endpoint{"node-a", true}))
	}
	ms := map[string]*member{}
	for _, n := range threeNodes {
		ms[n] = newMember(t, c, n, threeNodes)
		for _, svc := range c.services {
			ms[n].sync(t, "default/"+svc.Name)
		}
	}
	perNode := map[string]int{}
	for _, svc := range c.services {
		var owners []string
		for _, n := range threeNodes {
			if _, ok := ms[n].l2.get("default/" + svc.Name); ok {
				owners = append(owners, n)
			}
		}
		if len(owners) != 1 {
			t.Fatalf("%s announced by %v, want exactly one node", svc.Name, owners)
		}
		perNode[owners[0]]++
	}
	for _, n := range threeNodes {
		if perNode[n] == 0 {
			t.Errorf("%s owns nothing of 30 addresses: %v", n, perNode)
		}
	}
}

func TestBGPPeersByNodeSelector(t *testing.T) {
	c := &cluster{
		nodes: nodes(threeNodes, map[string]map[string]string{"node-a": {"rack": "r1"}, "node-b": {"rack": "r2"}}, nil),
		res: config.Resources{Pools: []v1beta1.IPAddressPool{ipPool("blue", "192.0.2.0/24")}, Peers: []v1beta2.BGPPeer{
			bgpPeer("everyone", "192.0.2.1", nil),
			bgpPeer("rack1", "192.0.2.2", map[string]string{"rack": "r1"}),
			bgpPeer("rack2", "192.0.2.3", map[string]string{"rack": "r2"}),
		}},
	}
	want := map[string][]string{"node-a": {"everyone", "rack1"}, "node-b": {"everyone", "rack2"}, "node-c": {"everyone"}}
	for _, n := range threeNodes {
		t.Run(n, func(t *testing.T) {
			m := newMember(t, c, n, threeNodes)
			m.s.syncPeers(context.Background())
			if got := m.bgp.peerNames(); !slices.Equal(got, want[n]) {
				t.Errorf("peers = %v, want %v", got, want[n])
			}
		})
	}
}

// TestBGPAdvertisementPeers checks that the status peers are the sessions
// the advertisement targets.
func TestBGPAdvertisementPeers(t *testing.T) {
	c := &cluster{nodes: nodes(threeNodes, nil, nil),
		services: []*corev1.Service{lbService("web", "blue", "192.0.2.10")},
		slices:   []*discoveryv1.EndpointSlice{slice("web", endpoint{"node-a", true})},
		res: config.Resources{Pools: []v1beta1.IPAddressPool{ipPool("blue", "192.0.2.0/24")},
			Peers: []v1beta2.BGPPeer{bgpPeer("r1", "192.0.2.1", nil), bgpPeer("r2", "192.0.2.2", nil)},
			BGPAdvertisements: []v1beta1.BGPAdvertisement{bgpAd("to-r2", nil, nil, func(s *v1beta1.BGPAdvertisementSpec) {
				s.Peers = []string{"r2"}
			})}}}
	m := newMember(t, c, "node-a", threeNodes)
	m.sync(t, "default/web")
	a, ok := m.bgp.get("default/web")
	if !ok || len(a.BGP) != 1 || !slices.Equal(a.BGP[0].Peers, []string{"r2"}) {
		t.Fatalf("announcement = %+v, %v", a, ok)
	}
	if st := m.s.states["default/web"]; !slices.Equal(st.bgpPeers, []string{"r2"}) {
		t.Errorf("status peers = %v, want [r2]", st.bgpPeers)
	}
}

func TestServiceDeletedWithdraws(t *testing.T) {
	svc := lbService("web", "blue", "192.0.2.10")
	c := &cluster{nodes: nodes([]string{"node-a"}, nil, nil), services: []*corev1.Service{svc},
		slices: []*discoveryv1.EndpointSlice{slice("web", endpoint{"node-a", true})},
		res: config.Resources{Pools: []v1beta1.IPAddressPool{ipPool("blue", "192.0.2.0/24")},
			L2Advertisements:  []v1beta1.L2Advertisement{l2Ad("all", nil, nil)},
			BGPAdvertisements: []v1beta1.BGPAdvertisement{bgpAd("all", nil, nil, nil)}}}
	m := newMember(t, c, "node-a", []string{"node-a"})
	m.sync(t, "default/web")
	if _, ok := m.l2.get("default/web"); !ok {
		t.Fatal("not announced over layer 2")
	}
	if got := gauge(t, m.reg, "lbkit_speaker_announced_services", map[string]string{"protocol": "layer2"}); got != 1 {
		t.Errorf("announced_services{layer2} = %v, want 1", got)
	}
	if got := gauge(t, m.reg, "lbkit_speaker_announced", map[string]string{"service": "default/web", "protocol": "bgp", "ip": "192.0.2.10"}); got != 1 {
		t.Errorf("announced{bgp} = %v, want 1", got)
	}
	expectEvent(t, m, `Normal nodeAssigned announcing from node "node-a" with protocol "layer2"`)

	must(t, m.s.factory.Core().V1().Services().Informer().GetIndexer().Delete(svc))
	m.sync(t, "default/web")
	for _, f := range []*fakeAnnouncer{m.l2, m.bgp} {
		if _, ok := f.get("default/web"); ok {
			t.Error("still announced after the service was deleted")
		}
		if !slices.Equal(f.calls, []string{"announce default/web", "withdraw default/web"}) {
			t.Errorf("calls = %v", f.calls)
		}
	}
	if got := gauge(t, m.reg, "lbkit_speaker_announced_services", map[string]string{"protocol": "layer2"}); got != 0 {
		t.Errorf("announced_services{layer2} = %v, want 0", got)
	}
	if len(m.s.states) != 0 {
		t.Errorf("states left: %v", m.s.states)
	}
}

func TestSyncIsIdempotent(t *testing.T) {
	c := &cluster{nodes: nodes([]string{"node-a"}, nil, nil), services: []*corev1.Service{lbService("web", "blue", "192.0.2.10")},
		slices: []*discoveryv1.EndpointSlice{slice("web", endpoint{"node-a", true})},
		res: config.Resources{Pools: []v1beta1.IPAddressPool{ipPool("blue", "192.0.2.0/24")},
			L2Advertisements: []v1beta1.L2Advertisement{l2Ad("all", nil, nil)}}}
	m := newMember(t, c, "node-a", []string{"node-a"})
	m.sync(t, "default/web")
	m.sync(t, "default/web")
	if !slices.Equal(m.l2.calls, []string{"announce default/web"}) {
		t.Errorf("calls = %v, want one announce", m.l2.calls)
	}
}

func TestConfigErrorKeepsLastGood(t *testing.T) {
	res := config.Resources{Pools: []v1beta1.IPAddressPool{ipPool("blue", "192.0.2.0/24")},
		L2Advertisements: []v1beta1.L2Advertisement{l2Ad("all", nil, nil)}}
	c := &cluster{nodes: nodes([]string{"node-a"}, nil, nil), services: []*corev1.Service{lbService("web", "blue", "192.0.2.10")},
		slices: []*discoveryv1.EndpointSlice{slice("web", endpoint{"node-a", true})}, res: res}
	m := newMember(t, c, "node-a", []string{"node-a"})
	m.sync(t, "default/web")

	// A broken L2Advertisement (unknown pool) and a broken pool: Translate
	// leaves both out, which would withdraw the service if applied.
	bad := res
	bad.Pools = []v1beta1.IPAddressPool{ipPool("blue", "not-an-address")}
	bad.L2Advertisements = []v1beta1.L2Advertisement{l2Ad("all", []string{"missing"}, nil)}
	cfg, errs := config.Translate(bad)
	if len(errs) == 0 {
		t.Fatal("the bad configuration has no errors")
	}
	m.s.ApplyConfig(context.Background(), source.Snapshot{Config: cfg, Errors: errs, Resources: bad})
	m.sync(t, "default/web")
	if _, ok := m.l2.get("default/web"); !ok {
		t.Fatal("withdrawn after a bad configuration")
	}
	if got := gauge(t, m.reg, "lbkit_speaker_config_stale", nil); got != 1 {
		t.Errorf("config_stale = %v, want 1", got)
	}

	// A good configuration without advertisements is applied.
	good, errs := config.Translate(config.Resources{Pools: res.Pools})
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	m.s.ApplyConfig(context.Background(), source.Snapshot{Config: good})
	m.sync(t, "default/web")
	if _, ok := m.l2.get("default/web"); ok {
		t.Error("still announced after the advertisement was removed")
	}
	if got := gauge(t, m.reg, "lbkit_speaker_config_stale", nil); got != 0 {
		t.Errorf("config_stale = %v, want 0", got)
	}
}

func TestAnnounceFailure(t *testing.T) {
	c := &cluster{nodes: nodes([]string{"node-a"}, nil, nil), services: []*corev1.Service{lbService("web", "blue", "192.0.2.10")},
		slices: []*discoveryv1.EndpointSlice{slice("web", endpoint{"node-a", true})},
		res: config.Resources{Pools: []v1beta1.IPAddressPool{ipPool("blue", "192.0.2.0/24")},
			L2Advertisements: []v1beta1.L2Advertisement{l2Ad("all", nil, nil)}}}
	m := newMember(t, c, "node-a", []string{"node-a"})
	m.l2.fail = errors.New("no interface")
	if err := m.s.sync(context.Background(), "default/web"); err == nil {
		t.Fatal("sync succeeded although the announcer failed")
	}
	expectEvent(t, m, "Warning AnnounceFailed")
	if got := gauge(t, m.reg, "lbkit_speaker_announce_failures_total", map[string]string{"protocol": "layer2"}); got != 1 {
		t.Errorf("failures = %v, want 1", got)
	}
	// The retry announces once the announcer works again.
	m.l2.fail = nil
	m.sync(t, "default/web")
	if _, ok := m.l2.get("default/web"); !ok {
		t.Error("not announced on retry")
	}
}

// TestMembershipChangeTakesOver checks that the next node in line takes
// over inside the membership callback, before it returns, and that the
// old owner lets go.
func TestMembershipChangeTakesOver(t *testing.T) {
	const ip = "192.0.2.10"
	c := &cluster{nodes: nodes(threeNodes, nil, nil), services: []*corev1.Service{lbService("web", "blue", ip)},
		slices: []*discoveryv1.EndpointSlice{slice("web", endpoint{"node-a", true})},
		res: config.Resources{Pools: []v1beta1.IPAddressPool{ipPool("blue", "192.0.2.0/24")},
			L2Advertisements: []v1beta1.L2Advertisement{l2Ad("all", nil, nil)}}}
	owner, next := winner(ip, threeNodes), loser(ip, threeNodes)
	mo, mn := newMember(t, c, owner, threeNodes), newMember(t, c, next, threeNodes)
	mo.sync(t, "default/web")
	mn.sync(t, "default/web")
	if _, ok := mo.l2.get("default/web"); !ok {
		t.Fatal("owner does not announce")
	}
	if !slices.Equal(mn.live.watch, []string{owner}) {
		t.Errorf("next in line watches %v, want [%s]", mn.live.watch, owner)
	}
	// The owner drains: it leaves both views.
	for _, m := range []*member{mo, mn} {
		m.live.mu.Lock()
		m.live.alive = without(threeNodes, owner)
		m.live.mu.Unlock()
		m.s.onMembership(context.Background(), membership.Event{Kind: membership.Changed, Node: owner})
	}
	if _, ok := mn.l2.get("default/web"); !ok {
		t.Error("next in line did not take over")
	}
	if _, ok := mo.l2.get("default/web"); ok {
		t.Error("drained owner still announces")
	}
}

func TestStopWithdrawsEverything(t *testing.T) {
	c := &cluster{nodes: nodes([]string{"node-a"}, nil, nil), services: []*corev1.Service{lbService("web", "blue", "192.0.2.10")},
		slices: []*discoveryv1.EndpointSlice{slice("web", endpoint{"node-a", true})},
		res: config.Resources{Pools: []v1beta1.IPAddressPool{ipPool("blue", "192.0.2.0/24")},
			L2Advertisements:  []v1beta1.L2Advertisement{l2Ad("all", nil, nil)},
			BGPAdvertisements: []v1beta1.BGPAdvertisement{bgpAd("all", nil, nil, nil)}}}
	m := newMember(t, c, "node-a", []string{"node-a"})
	m.sync(t, "default/web")
	m.s.stop()
	for _, f := range []*fakeAnnouncer{m.l2, m.bgp} {
		if len(f.current) != 0 {
			t.Errorf("left announced: %v", f.current)
		}
	}
	// Nothing is announced after stop.
	m.sync(t, "default/web")
	if len(m.l2.current) != 0 {
		t.Error("announced after stop")
	}
}

// TestRunStopsCleanly runs the speaker over a fake clientset: it
// announces what the API holds, and withdraws when its context ends.
func TestRunStopsCleanly(t *testing.T) {
	m := newMember(t, &cluster{res: config.Resources{Pools: []v1beta1.IPAddressPool{ipPool("blue", "192.0.2.0/24")},
		L2Advertisements: []v1beta1.L2Advertisement{l2Ad("all", nil, nil)}}}, "node-a", []string{"node-a"})
	ctx := context.Background()
	_, err := m.client.CoreV1().Nodes().Create(ctx, node("node-a", nil), metav1.CreateOptions{})
	must(t, err)
	_, err = m.client.CoreV1().Services("default").Create(ctx, lbService("web", "blue", "192.0.2.10"), metav1.CreateOptions{})
	must(t, err)
	_, err = m.client.DiscoveryV1().EndpointSlices("default").Create(ctx, slice("web", endpoint{"node-a", true}), metav1.CreateOptions{})
	must(t, err)

	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.s.Run(runCtx) }()
	timeout := time.After(30 * time.Second)
	for {
		if _, ok := m.l2.get("default/web"); ok {
			break
		}
		select {
		case <-m.l2.changed:
		case <-timeout:
			t.Fatal("not announced within 30s")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := m.l2.get("default/web"); ok {
		t.Error("still announced after Run returned")
	}
}

func TestNewValidates(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no client", Config{NodeName: "a"}, "Client"},
		{"no node", Config{Client: newMember(t, &cluster{}, "x", nil).client}, "NodeName"},
		{"L2 without liveness", Config{Client: newMember(t, &cluster{}, "x", nil).client, NodeName: "a", L2: newFakeAnnouncer()}, "Liveness"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want mention of %s", err, tt.want)
			}
		})
	}
}

func expectEvent(t *testing.T, m *member, want string) {
	t.Helper()
	for {
		select {
		case e := <-m.events.Events:
			if strings.Contains(e, want) {
				return
			}
		default:
			t.Fatalf("no event containing %q", want)
		}
	}
}

func without(list []string, drop string) []string {
	var out []string
	for _, s := range list {
		if s != drop {
			out = append(out, s)
		}
	}
	return out
}

func withClass(s *corev1.Service, class string) *corev1.Service {
	s.Spec.LoadBalancerClass = &class
	return s
}

func equalAdvs(a, b []announce.BGPAdvertisement) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.AggregationLength != y.AggregationLength || x.AggregationLengthV6 != y.AggregationLengthV6 ||
			x.LocalPref != y.LocalPref || !slices.Equal(x.Communities, y.Communities) || !slices.Equal(x.Peers, y.Peers) {
			return false
		}
	}
	return true
}

package config

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"go4.org/netipx"

	"github.com/lbkit/lbkit/allocator"
	"github.com/lbkit/lbkit/announce"
)

func rng(from, to string) netipx.IPRange {
	return netipx.IPRangeFrom(netip.MustParseAddr(from), netip.MustParseAddr(to))
}

func TestTranslateSeeds(t *testing.T) {
	examplePool := allocator.Pool{
		Name: "example",
		Addresses: []netipx.IPRange{
			rng("192.168.10.0", "192.168.10.255"),
			rng("192.168.9.1", "192.168.9.5"),
			rng("fc00:f853:ccd:e799::", "fc00:f853:ccd:e799::f"),
		},
		AutoAssign: true,
	}
	firstPool := allocator.Pool{Name: "first-pool", Addresses: []netipx.IPRange{rng("198.51.100.0", "198.51.100.255")}, AutoAssign: true}
	thirdPool := allocator.Pool{Name: "third-pool", Addresses: []netipx.IPRange{rng("203.0.113.10", "203.0.113.20"), rng("2001:db8::", "2001:db8::ff")}}
	sample := func(al allocator.ServiceAllocation, avoid bool) allocator.Pool {
		return allocator.Pool{
			Name:          "ippool-ns-service-alloc-sample",
			Addresses:     []netipx.IPRange{rng("192.168.20.0", "192.168.20.255")},
			AutoAssign:    true,
			AvoidBuggyIPs: avoid,
			Allocation:    &al,
		}
	}
	defaultAdv := announce.BGPAdvertisement{AggregationLength: 32, AggregationLengthV6: 128}
	peer := func(name string, port uint16) announce.BGPPeer {
		return announce.BGPPeer{Name: name, MyASN: 64512, ASN: 64512, Address: netip.MustParseAddr("172.30.0.3"), Port: port, DualStack: true}
	}

	tests := []struct {
		name  string
		files []string
		want  Config
		// wantErrs are "Kind name field" of the expected errors, in order.
		wantErrs []string
	}{
		{
			name:  "pool with CIDR, range and IPv6",
			files: []string{"seeds/01-ipaddresspool.yaml"},
			want:  Config{Pools: []allocator.Pool{examplePool}},
		},
		{
			name:  "serviceAllocation with priority and namespace selectors",
			files: []string{"seeds/02-ipaddresspool-namespace-selectors.yaml"},
			want: Config{Pools: []allocator.Pool{sample(allocator.ServiceAllocation{
				Priority:           50,
				NamespaceSelectors: []allocator.Selector{{MatchLabels: map[string]string{"app": "myapp"}}},
			}, false)}},
		},
		{
			name:  "serviceAllocation with namespaces",
			files: []string{"seeds/03-ipaddresspool-namespaces.yaml"},
			want: Config{Pools: []allocator.Pool{sample(allocator.ServiceAllocation{
				Priority: 50, Namespaces: []string{"namespace-a", "namespace-b"},
			}, false)}},
		},
		{
			name:  "serviceAllocation with service selectors and avoidBuggyIPs",
			files: []string{"seeds/04-ipaddresspool-service-selectors.yaml"},
			want: Config{Pools: []allocator.Pool{sample(allocator.ServiceAllocation{
				Priority:   50,
				Namespaces: []string{"namespace-a"},
				ServiceSelectors: []allocator.Selector{{MatchExpressions: []allocator.Requirement{
					{Key: "app", Operator: allocator.OpIn, Values: []string{"bar"}},
				}}},
			}, true)}},
		},
		{
			name:  "empty L2Advertisement applies to every pool",
			files: []string{"seeds/01-ipaddresspool.yaml", "pools.yaml", "seeds/05-l2advertisement-empty.yaml"},
			want: Config{
				Pools: []allocator.Pool{examplePool, firstPool, thirdPool},
				L2:    []L2Advertisement{{Name: "metallb-system/empty", Pools: []string{"example", "first-pool", "third-pool"}}},
			},
		},
		{
			name: "L2Advertisements with pools, node selectors, interfaces",
			files: []string{"seeds/01-ipaddresspool.yaml", "pools.yaml",
				"seeds/06-l2advertisement-pools.yaml", "seeds/07-l2advertisement-node-selectors.yaml", "seeds/08-l2advertisement-interfaces.yaml"},
			want: Config{
				Pools: []allocator.Pool{examplePool, firstPool, thirdPool},
				L2: []L2Advertisement{
					{Name: "metallb-system/example", Pools: []string{"first-pool"}},
					{
						Name:          "metallb-system/example",
						Pools:         []string{"example", "first-pool", "third-pool"},
						NodeSelectors: []allocator.Selector{{MatchLabels: map[string]string{"network": "controlplane"}}},
					},
					{Name: "metallb-system/example", Pools: []string{"third-pool"}, Interfaces: []string{"eth0", "eth1"}},
				},
			},
		},
		{
			name: "BGP peers and advertisements",
			files: []string{"seeds/01-ipaddresspool.yaml", "pools.yaml", "seeds/09-bgppeer.yaml", "seeds/14-bgppeer-node-selectors.yaml",
				"seeds/10-bgpadvertisement-empty.yaml", "seeds/11-bgpadvertisement-pools.yaml", "seeds/12-bgpadvertisement-node-selectors.yaml"},
			want: Config{
				Pools: []allocator.Pool{examplePool, firstPool, thirdPool},
				BGP: []BGPAdvertisement{
					{
						Name: "metallb-system/advertisement", Pools: []string{"first-pool"}, Advertisement: defaultAdv,
						NodeSelectors: []allocator.Selector{{MatchLabels: map[string]string{"role": "serviceAdvertiser"}}},
					},
					{Name: "metallb-system/empty", Pools: []string{"example", "first-pool", "third-pool"}, Advertisement: defaultAdv},
					{Name: "metallb-system/example", Pools: []string{"first-pool"}, Advertisement: defaultAdv},
				},
				Peers: []Peer{
					{
						Peer: peer("example", 180), Namespace: "metallb-system",
						NodeSelectors: []allocator.Selector{{MatchLabels: map[string]string{"rack": "frontend"}}},
					},
					{Peer: peer("peer", 179), Namespace: "metallb-system"},
				},
			},
		},
		{
			name:  "advertisement naming missing pool and peers",
			files: []string{"seeds/13-bgpadvertisement-peers.yaml", "seeds/09-bgppeer.yaml"},
			want:  Config{Peers: []Peer{{Peer: peer("peer", 179), Namespace: "metallb-system"}}},
			wantErrs: []string{
				"BGPAdvertisement example spec.ipAddressPools[0] not found",
				"BGPAdvertisement example spec.peers[0] not found",
				"BGPAdvertisement example spec.peers[1] not found",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := Translate(load(t, tt.files...))
			checkErrs(t, errs, tt.wantErrs)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("config =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// checkErrs compares errs with "Kind name field sentinel-text" lines and
// checks every message names its object and field.
func checkErrs(t *testing.T, errs Errors, want []string) {
	t.Helper()
	var got []string
	for _, e := range errs {
		s := e.Kind + " " + e.Name + " " + e.Field
		switch {
		case errors.Is(e, ErrNotFound):
			s += " not found"
		case errors.Is(e, ErrConflict):
			s += " conflict"
		case errors.Is(e, ErrInvalidValue):
			s += " invalid"
		}
		got = append(got, s)
		msg := e.Error()
		if !strings.Contains(msg, e.Kind+" "+e.Namespace+"/"+e.Name) || !strings.Contains(msg, e.Field) {
			t.Errorf("message %q does not name its object and field", msg)
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s\nmessages:\n%v", strings.Join(got, "\n"), strings.Join(want, "\n"), errs)
	}
}

const (
	poolA = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: a, namespace: metallb-system}
spec:
  addresses: [192.168.10.0/24, "2001:db8:1::/120"]
`
	ibgpPeer = `apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: ibgp, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 64512, peerAddress: 10.0.0.1}
`
	ebgpPeer = `apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata: {name: ebgp, namespace: metallb-system}
spec: {myASN: 64512, peerASN: 65000, peerAddress: 10.0.0.2}
`
)

func pool(name string, addrs ...string) string {
	return `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: ` + name + `, namespace: metallb-system}
spec:
  addresses: ["` + strings.Join(addrs, `", "`) + `"]
`
}

func bgpAdv(name, spec string) string {
	return "apiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata: {name: " + name + ", namespace: metallb-system}\nspec: " + spec + "\n"
}

func peerYAML(name, spec string) string {
	return "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: " + name + ", namespace: metallb-system}\nspec: " + spec + "\n"
}

func TestTranslateErrors(t *testing.T) {
	tests := []struct {
		name     string
		sources  []string
		wantErrs []string
		// check, if set, inspects the config that remains.
		check func(t *testing.T, c Config)
	}{
		{
			name:     "overlapping pools: the later one is rejected",
			sources:  []string{poolA, pool("b", "192.168.10.200-192.168.10.210"), pool("c", "192.168.11.0/24")},
			wantErrs: []string{"IPAddressPool b spec.addresses conflict"},
			check: func(t *testing.T, c Config) {
				if len(c.Pools) != 2 || c.Pools[0].Name != "a" || c.Pools[1].Name != "c" {
					t.Errorf("pools %+v, want a and c", c.Pools)
				}
			},
		},
		{
			name:     "overlap is an allocator.ErrOverlappingPools",
			sources:  []string{pool("p1", "2001:db8::/64"), pool("p2", "2001:db8::5")},
			wantErrs: []string{"IPAddressPool p2 spec.addresses conflict"},
			check: func(t *testing.T, c Config) {
				_, errs := Translate(load(t, pool("p1", "2001:db8::/64"), pool("p2", "2001:db8::5")))
				if !errors.Is(errs.Err(), allocator.ErrOverlappingPools) {
					t.Errorf("%v is not allocator.ErrOverlappingPools", errs)
				}
			},
		},
		{
			name:    "bad CIDR, reversed range, mixed range",
			sources: []string{pool("bad", "192.168.10.0/33", "192.168.9.5-192.168.9.1", "10.0.0.1-2001:db8::1", "192.168.1.1"), pool("good", "10.1.0.0/16")},
			wantErrs: []string{
				"IPAddressPool bad spec.addresses[0] invalid",
				"IPAddressPool bad spec.addresses[1] invalid",
				"IPAddressPool bad spec.addresses[2] invalid",
			},
			check: func(t *testing.T, c Config) {
				if len(c.Pools) != 1 || c.Pools[0].Name != "good" {
					t.Errorf("pools %+v, want only good", c.Pools)
				}
			},
		},
		{
			name: "bad selector in serviceAllocation",
			sources: []string{`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: p, namespace: metallb-system}
spec:
  addresses: [192.168.10.0/24]
  serviceAllocation:
    serviceSelectors:
    - matchExpressions: [{key: app, operator: Near, values: [x]}]
`},
			wantErrs: []string{"IPAddressPool p spec.serviceAllocation.serviceSelectors[0] invalid"},
		},
		{
			name: "communities: alias resolved, unknown alias, bad value",
			sources: []string{poolA, ibgpPeer, `apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: communities, namespace: metallb-system}
spec:
  communities:
  - {name: vpn-only, value: "1234:1"}
  - {name: big, value: "large:1:2:3"}
`, bgpAdv("good", "{communities: [vpn-only, big, no-export, '65000:100']}"),
				bgpAdv("bad", "{communities: [vpn-onyl, '65536:1', 'large:1:2']}")},
			wantErrs: []string{
				"BGPAdvertisement bad spec.communities[0] not found",
				"BGPAdvertisement bad spec.communities[1] invalid",
				"BGPAdvertisement bad spec.communities[2] invalid",
			},
			check: func(t *testing.T, c Config) {
				if len(c.BGP) != 1 {
					t.Fatalf("BGP = %+v", c.BGP)
				}
				want := []announce.Community{
					{Value: 1234<<16 | 1},
					{Large: true, Global: 1, Local1: 2, Local2: 3},
					{Value: 0xFFFFFF01},
					{Value: 65000<<16 | 100},
				}
				if got := c.BGP[0].Advertisement.Communities; !reflect.DeepEqual(got, want) {
					t.Errorf("communities %v, want %v", got, want)
				}
			},
		},
		{
			name: "bad Community alias value",
			sources: []string{`apiVersion: metallb.io/v1beta1
kind: Community
metadata: {name: c, namespace: metallb-system}
spec:
  communities:
  - {name: x, value: "1:2:3"}
`, poolA, bgpAdv("uses-x", "{communities: [x]}")},
			wantErrs: []string{
				"BGPAdvertisement uses-x spec.communities[0] not found",
				"Community c spec.communities[0].value invalid",
			},
		},
		{
			name: "password secrets",
			sources: []string{
				peerYAML("ok", "{myASN: 64512, peerASN: 64512, peerAddress: 10.0.0.1, passwordSecret: {name: bgp-pass}}"),
				peerYAML("missing", "{myASN: 64512, peerASN: 64512, peerAddress: 10.0.0.2, passwordSecret: {name: nope}}"),
				peerYAML("nokey", "{myASN: 64512, peerASN: 64512, peerAddress: 10.0.0.3, passwordSecret: {name: no-key}}"),
				peerYAML("opaque", "{myASN: 64512, peerASN: 64512, peerAddress: 10.0.0.4, passwordSecret: {name: opaque}}"),
				peerYAML("both", "{myASN: 64512, peerASN: 64512, peerAddress: 10.0.0.5, password: x, passwordSecret: {name: bgp-pass}}"),
				`apiVersion: v1
kind: Secret
metadata: {name: bgp-pass, namespace: metallb-system}
type: kubernetes.io/basic-auth
data: {password: czNjcjN0}
---
apiVersion: v1
kind: Secret
metadata: {name: no-key, namespace: metallb-system}
type: kubernetes.io/basic-auth
data: {username: eA==}
---
apiVersion: v1
kind: Secret
metadata: {name: opaque, namespace: metallb-system}
type: Opaque
data: {password: eA==}
`},
			wantErrs: []string{
				"BGPPeer both spec.passwordSecret invalid",
				"BGPPeer missing spec.passwordSecret not found",
				"BGPPeer nokey spec.passwordSecret not found",
				"BGPPeer opaque spec.passwordSecret invalid",
			},
			check: func(t *testing.T, c Config) {
				if len(c.Peers) != 1 || c.Peers[0].Peer.Password != "s3cr3t" {
					t.Errorf("peers %+v, want ok with password s3cr3t", c.Peers)
				}
			},
		},
		{
			name: "conflicting myASN on every node",
			sources: []string{ibgpPeer,
				peerYAML("other-asn", "{myASN: 64513, peerASN: 64513, peerAddress: 10.0.0.9}"),
				peerYAML("other-vrf", "{myASN: 64999, peerASN: 64999, peerAddress: 10.0.0.9, vrf: red}"),
				peerYAML("some-nodes", "{myASN: 64514, peerASN: 64514, peerAddress: 10.0.0.8, nodeSelectors: [{matchLabels: {rack: a}}]}")},
			wantErrs: []string{"BGPPeer other-asn spec.myASN conflict"},
		},
		{
			name: "conflicting myASN on a node",
			sources: []string{
				peerYAML("rack-a", "{myASN: 64512, peerASN: 64512, peerAddress: 10.0.0.1, nodeSelectors: [{matchLabels: {rack: a}}]}"),
				peerYAML("rack-b", "{myASN: 64513, peerASN: 64513, peerAddress: 10.0.0.2, nodeSelectors: [{matchLabels: {rack: b}}]}"),
				peerYAML("zone-1", "{myASN: 64514, peerASN: 64514, peerAddress: 10.0.0.3, nodeSelectors: [{matchLabels: {zone: '1'}}]}"),
				`apiVersion: v1
kind: Node
metadata: {name: n1, labels: {rack: a}}
---
apiVersion: v1
kind: Node
metadata: {name: n2, labels: {rack: b, zone: "1"}}
`},
			wantErrs: []string{"BGPPeer zone-1 spec.myASN conflict"},
			check: func(t *testing.T, c Config) {
				got := c.PeersFor(map[string]string{"rack": "a"})
				if len(got) != 1 || got[0].Name != "rack-a" {
					t.Errorf("PeersFor(rack=a) = %+v", got)
				}
			},
		},
		{
			name:     "localPref towards eBGP-only peers",
			sources:  []string{poolA, ebgpPeer, bgpAdv("lp", "{localPref: 100}"), bgpAdv("lp-named", "{localPref: 100, peers: [ebgp]}")},
			wantErrs: []string{"BGPAdvertisement lp spec.localPref invalid", "BGPAdvertisement lp-named spec.localPref invalid"},
		},
		{
			name:    "localPref with an iBGP peer is fine",
			sources: []string{poolA, ebgpPeer, ibgpPeer, bgpAdv("lp", "{localPref: 100}")},
			check: func(t *testing.T, c Config) {
				if len(c.BGP) != 1 || c.BGP[0].Advertisement.LocalPref != 100 {
					t.Errorf("BGP = %+v", c.BGP)
				}
			},
		},
		{
			name: "aggregation length shorter than the pool allows",
			sources: []string{pool("range", "192.168.9.1-192.168.9.5", "fc00::/124"), pool("cidr", "10.0.0.0/24"),
				bgpAdv("agg24-range", "{aggregationLength: 24, ipAddressPools: [range]}"),
				bgpAdv("agg24-cidr", "{aggregationLength: 24, ipAddressPools: [cidr]}"),
				bgpAdv("agg-v6", "{aggregationLengthV6: 120, ipAddressPools: [range]}"),
				bgpAdv("agg-v6-ok", "{aggregationLengthV6: 124}"),
				bgpAdv("agg-zero", "{aggregationLength: 0}"),
			},
			wantErrs: []string{
				"BGPAdvertisement agg-v6 spec.aggregationLengthV6 invalid",
				"BGPAdvertisement agg-zero spec.aggregationLength invalid",
				"BGPAdvertisement agg24-range spec.aggregationLength invalid",
			},
			check: func(t *testing.T, c Config) {
				if len(c.BGP) != 2 || c.BGP[0].Name != "metallb-system/agg-v6-ok" || c.BGP[1].Advertisement.AggregationLength != 24 {
					t.Errorf("BGP = %+v", c.BGP)
				}
			},
		},
		{
			name: "bad peers",
			sources: []string{
				peerYAML("no-asn", "{myASN: 64512, peerAddress: 10.0.0.1}"),
				peerYAML("both-asn", "{myASN: 64512, peerASN: 1, dynamicASN: external, peerAddress: 10.0.0.2}"),
				peerYAML("bad-addr", "{myASN: 64512, peerASN: 1, peerAddress: 10.0.0.300}"),
				peerYAML("bad-src", "{myASN: 64512, peerASN: 1, peerAddress: 10.0.0.3, sourceAddress: '2001:db8::1'}"),
				peerYAML("bad-routerid", "{myASN: 64512, peerASN: 1, peerAddress: 10.0.0.4, routerID: '2001:db8::1'}"),
				peerYAML("bad-timers", "{myASN: 64512, peerASN: 1, peerAddress: 10.0.0.5, holdTime: 1s, keepaliveTime: 2s, connectTime: 1500ms}"),
				peerYAML("keepalive", "{myASN: 64512, peerASN: 1, peerAddress: 10.0.0.6, holdTime: 9s, keepaliveTime: 10s}"),
				peerYAML("no-bfd", "{myASN: 64512, peerASN: 1, peerAddress: 10.0.0.7, bfdProfile: missing}"),
				peerYAML("bad-selector", "{myASN: 64512, peerASN: 1, peerAddress: 10.0.0.8, nodeSelectors: [{matchLabels: {'bad key!': x}}]}"),
				peerYAML("dynamic", "{myASN: 64512, dynamicASN: internal, peerAddress: '2001:db8::1', holdTime: 9s, keepaliveTime: 3s, connectTime: 2s, bfdProfile: fast, disableMP: true}"),
				`apiVersion: metallb.io/v1beta1
kind: BFDProfile
metadata: {name: fast, namespace: metallb-system}
spec: {receiveInterval: 50, transmitInterval: 50, detectMultiplier: 3, echoMode: true}
`},
			wantErrs: []string{
				"BGPPeer bad-addr spec.peerAddress invalid",
				"BGPPeer bad-routerid spec.routerID invalid",
				"BGPPeer bad-selector spec.nodeSelectors[0] invalid",
				"BGPPeer bad-src spec.sourceAddress invalid",
				"BGPPeer bad-timers spec.connectTime invalid",
				"BGPPeer bad-timers spec.holdTime invalid",
				"BGPPeer bad-timers spec.keepaliveTime invalid",
				"BGPPeer both-asn spec.dynamicASN invalid",
				"BGPPeer keepalive spec.keepaliveTime invalid",
				"BGPPeer no-asn spec.peerASN invalid",
				"BGPPeer no-bfd spec.bfdProfile not found",
			},
			check: func(t *testing.T, c Config) {
				want := Peer{
					Peer: announce.BGPPeer{
						Name: "dynamic", MyASN: 64512, Dynamic: announce.DynamicInternal, Address: netip.MustParseAddr("2001:db8::1"), Port: 179,
						HoldTime: 9 * time.Second, KeepaliveTime: 3 * time.Second, ConnectTime: 2 * time.Second,
					},
					Namespace: "metallb-system",
					BFD:       &BFDProfile{Name: "fast", ReceiveInterval: 50, TransmitInterval: 50, DetectMultiplier: 3, EchoMode: true},
				}
				if len(c.Peers) != 1 || !reflect.DeepEqual(c.Peers[0], want) {
					t.Errorf("peers =\n%+v\nwant\n%+v", c.Peers, want)
				}
			},
		},
		{
			name: "bad L2 interface and node selector",
			sources: []string{poolA, `apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: l2, namespace: metallb-system}
spec:
  interfaces: [eth0, "a/b", averyveryverylonginterfacename]
  nodeSelectors: [{matchExpressions: [{key: k, operator: In}]}]
`},
			wantErrs: []string{
				"L2Advertisement l2 spec.interfaces[1] invalid",
				"L2Advertisement l2 spec.interfaces[2] invalid",
				"L2Advertisement l2 spec.nodeSelectors[0] invalid",
			},
		},
		{
			name:     "advertisement ignores an invalid pool it names",
			sources:  []string{pool("broken", "nonsense"), poolA, bgpAdv("adv", "{ipAddressPools: [broken, a]}")},
			wantErrs: []string{"IPAddressPool broken spec.addresses[0] invalid"},
			check: func(t *testing.T, c Config) {
				if len(c.BGP) != 1 || !reflect.DeepEqual(c.BGP[0].Pools, []string{"a"}) {
					t.Errorf("BGP = %+v", c.BGP)
				}
				if got := c.BGPFor("a"); len(got) != 1 {
					t.Errorf("BGPFor(a) = %+v", got)
				}
			},
		},
		{
			name: "pool selectors",
			sources: []string{"pools.yaml", poolA, `apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata: {name: sel, namespace: metallb-system}
spec:
  ipAddressPoolSelectors: [{matchLabels: {tier: first}}]
`},
			check: func(t *testing.T, c Config) {
				if len(c.L2) != 1 || !reflect.DeepEqual(c.L2[0].Pools, []string{"first-pool"}) {
					t.Errorf("L2 = %+v", c.L2)
				}
				if got := c.L2For("a"); len(got) != 0 {
					t.Errorf("L2For(a) = %+v", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, errs := Translate(load(t, tt.sources...))
			checkErrs(t, errs, tt.wantErrs)
			if tt.check != nil {
				tt.check(t, cfg)
			}
		})
	}
}

func TestTranslateDeterministic(t *testing.T) {
	r := load(t, "seeds/01-ipaddresspool.yaml", "pools.yaml", "seeds/05-l2advertisement-empty.yaml",
		"seeds/09-bgppeer.yaml", "seeds/14-bgppeer-node-selectors.yaml", "seeds/13-bgpadvertisement-peers.yaml",
		pool("b", "192.168.10.200-192.168.10.210"))
	want, wantErrs := Translate(r)
	for i := range 20 {
		// Reverse the inputs: the output must not depend on their order.
		rr := r
		rr.Pools = reversed(r.Pools)
		rr.Peers = reversed(r.Peers)
		got, errs := Translate(rr)
		if !reflect.DeepEqual(got, want) || errs.Error() != wantErrs.Error() {
			t.Fatalf("run %d differs:\n%+v\n%v\nwant\n%+v\n%v", i, got, errs, want, wantErrs)
		}
	}
}

func reversed[T any](s []T) []T {
	out := make([]T, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

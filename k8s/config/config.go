package config

import (
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/lbkit/lbkit/allocator"
	"github.com/lbkit/lbkit/announce"
	"github.com/lbkit/lbkit/k8s/api/v1beta1"
	"github.com/lbkit/lbkit/k8s/api/v1beta2"
)

// Resources is a snapshot of the objects the configuration is made of,
// usually the metallb.io objects of MetalLB's namespace. Order does not
// matter: Translate sorts everything by namespace and name.
type Resources struct {
	Pools             []v1beta1.IPAddressPool
	L2Advertisements  []v1beta1.L2Advertisement
	BGPAdvertisements []v1beta1.BGPAdvertisement
	Peers             []v1beta2.BGPPeer
	BFDProfiles       []v1beta1.BFDProfile
	Communities       []v1beta1.Community
	// Secrets holds the Secrets BGPPeer.spec.passwordSecret may name.
	Secrets []corev1.Secret
	// Nodes, when given, let Translate check per node that the peers a
	// node connects to agree on myASN. Without them only peers that select
	// every node are compared.
	Nodes []corev1.Node
}

// Config is lbkit's configuration. Every slice is sorted by name; objects
// that had errors are absent.
type Config struct {
	// Pools are the allocator pools, named after their IPAddressPool.
	Pools []allocator.Pool
	// L2 are the layer 2 advertisements.
	L2 []L2Advertisement
	// BGP are the BGP advertisements.
	BGP []BGPAdvertisement
	// Peers are the BGP sessions to hold.
	Peers []Peer
}

// L2Advertisement is one L2Advertisement resolved against the pools.
type L2Advertisement struct {
	// Name is the object's namespace/name.
	Name string
	// Pools are the names of the pools it applies to, sorted.
	Pools []string
	// NodeSelectors limit the nodes that may announce; empty means all.
	NodeSelectors []allocator.Selector
	// Interfaces limit where ARP/NDP is answered; empty means all.
	Interfaces []string
}

// BGPAdvertisement is one BGPAdvertisement resolved against the pools,
// peers and community aliases.
type BGPAdvertisement struct {
	// Name is the object's namespace/name.
	Name string
	// Pools are the names of the pools it applies to, sorted.
	Pools []string
	// NodeSelectors limit the nodes advertised as next hops; empty means all.
	NodeSelectors []allocator.Selector
	// Advertisement carries aggregation, localPref, communities (aliases
	// resolved) and the peers (empty: all).
	Advertisement announce.BGPAdvertisement
}

// Peer is one BGPPeer.
type Peer struct {
	// Peer is the session; Peer.Name is the object's name, the one
	// BGPAdvertisement.spec.peers uses.
	Peer announce.BGPPeer
	// Namespace is the object's namespace.
	Namespace string
	// NodeSelectors limit the nodes that hold the session; empty means all.
	NodeSelectors []allocator.Selector
	// BFD is the session's BFD profile, nil without one.
	BFD *BFDProfile
}

// BFDProfile is a BFDProfile's settings; zero fields mean the BFD
// implementation's defaults.
type BFDProfile struct {
	Name                                            string
	ReceiveInterval, TransmitInterval, EchoInterval uint32 // milliseconds
	DetectMultiplier, MinimumTTL                    uint32
	EchoMode, PassiveMode                           bool
}

// Translate builds the configuration from r. It never fails as a whole:
// objects with errors are left out of the Config and reported in Errors.
func Translate(r Resources) (Config, Errors) {
	var t translation
	pools := t.pools(r.Pools)
	aliases := t.communities(r.Communities)
	bfd := t.bfdProfiles(r.BFDProfiles)
	peers := t.peers(r.Peers, r.Secrets, bfd)
	t.checkASNs(peers, r.Nodes)
	cfg := Config{
		Pools: pools.valid(),
		L2:    t.l2(r.L2Advertisements, pools),
		BGP:   t.bgp(r.BGPAdvertisements, pools, peers, aliases),
	}
	for _, p := range peers {
		if !t.failed(p.ref) {
			cfg.Peers = append(cfg.Peers, p.Peer)
		}
	}
	slices.SortStableFunc(t.errs, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Namespace, b.Namespace),
			cmp.Compare(a.Name, b.Name), cmp.Compare(a.Field, b.Field))
	})
	return cfg, t.errs
}

// translation collects errors while Translate runs.
type translation struct {
	errs Errors
	bad  map[objectRef]bool
}

func (t *translation) add(e *Error) {
	t.errs = append(t.errs, e)
	if t.bad == nil {
		t.bad = make(map[objectRef]bool)
	}
	t.bad[objectRef{e.Kind, e.Namespace, e.Name}] = true
}

func (t *translation) failed(o objectRef) bool { return t.bad[o] }

func sortByName[T any](items []T, meta func(*T) (string, string)) []*T {
	out := make([]*T, len(items))
	for i := range items {
		out[i] = &items[i]
	}
	slices.SortFunc(out, func(a, b *T) int {
		an, aa := meta(a)
		bn, bb := meta(b)
		return cmp.Or(cmp.Compare(an, bn), cmp.Compare(aa, bb))
	})
	return out
}

// L2For returns the layer 2 advertisements that apply to pool.
func (c Config) L2For(pool string) []L2Advertisement {
	var out []L2Advertisement
	for _, a := range c.L2 {
		if slices.Contains(a.Pools, pool) {
			out = append(out, a)
		}
	}
	return out
}

// BGPFor returns the BGP advertisements that apply to pool.
func (c Config) BGPFor(pool string) []BGPAdvertisement {
	var out []BGPAdvertisement
	for _, a := range c.BGP {
		if slices.Contains(a.Pools, pool) {
			out = append(out, a)
		}
	}
	return out
}

// PeersFor returns the sessions a node with nodeLabels holds, ready for an
// announce.PeerSetter.
func (c Config) PeersFor(nodeLabels map[string]string) []announce.BGPPeer {
	var out []announce.BGPPeer
	for _, p := range c.Peers {
		if SelectorsMatch(p.NodeSelectors, nodeLabels) {
			out = append(out, p.Peer)
		}
	}
	return out
}

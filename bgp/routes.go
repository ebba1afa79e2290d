package bgp

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/lbkit/lbkit/announce"
)

// contribution is what one advertisement of one service asks for one
// prefix.
type contribution struct {
	prefix      netip.Prefix
	localPref   uint32
	communities []announce.Community
	peers       []string // nil: every peer
}

func (c contribution) wants(peer string) bool {
	return c.peers == nil || slices.Contains(c.peers, peer)
}

// attrs are the attributes of one route towards one peer, merged over
// every contribution: communities united, the highest local preference.
// Slices are sorted so that equal attrs compare equal.
type attrs struct {
	localPref uint32
	standard  []uint32
	large     [][3]uint32
}

func (a attrs) equal(b attrs) bool {
	return a.localPref == b.localPref && slices.Equal(a.standard, b.standard) && slices.Equal(a.large, b.large)
}

func (a *attrs) add(c contribution, ibgp bool) {
	if ibgp {
		a.localPref = max(a.localPref, c.localPref)
	}
	for _, cm := range c.communities {
		a.addCommunity(cm)
	}
}

func (a *attrs) addCommunity(cm announce.Community) {
	if cm.Large {
		v := [3]uint32{cm.Global, cm.Local1, cm.Local2}
		if i, found := slices.BinarySearchFunc(a.large, v, cmpLarge); !found {
			a.large = slices.Insert(a.large, i, v)
		}
		return
	}
	if i, found := slices.BinarySearch(a.standard, cm.Value); !found {
		a.standard = slices.Insert(a.standard, i, cm.Value)
	}
}

func cmpLarge(a, b [3]uint32) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// withCommunity returns a copy of a with cm added.
func (a attrs) withCommunity(cm announce.Community) attrs {
	b := attrs{localPref: a.localPref, standard: slices.Clone(a.standard), large: slices.Clone(a.large)}
	b.addCommunity(cm)
	return b
}

// contributions validates a and returns what it asks, per prefix.
func contributions(a announce.Announcement) ([]contribution, error) {
	if a.Service == "" {
		return nil, fmt.Errorf("%w: no service name", announce.ErrInvalid)
	}
	addrs := make([]netip.Addr, 0, len(a.Addresses))
	for _, ad := range a.Addresses {
		if !ad.IsValid() {
			return nil, fmt.Errorf("%w: service %s: invalid address", announce.ErrInvalid, a.Service)
		}
		addrs = append(addrs, ad.Unmap().WithZone(""))
	}
	var out []contribution
	for _, adv := range a.BGP {
		if adv.AggregationLength < 0 || adv.AggregationLength > 32 {
			return nil, fmt.Errorf("%w: service %s: aggregation length %d is not 0..32", announce.ErrInvalid, a.Service, adv.AggregationLength)
		}
		if adv.AggregationLengthV6 < 0 || adv.AggregationLengthV6 > 128 {
			return nil, fmt.Errorf("%w: service %s: IPv6 aggregation length %d is not 0..128", announce.ErrInvalid, a.Service, adv.AggregationLengthV6)
		}
		var peers []string
		if len(adv.Peers) > 0 {
			peers = slices.Clone(adv.Peers)
			slices.Sort(peers)
			peers = slices.Compact(peers)
		}
		for _, p := range adv.Prefixes(addrs) {
			out = append(out, contribution{
				prefix:      p,
				localPref:   adv.LocalPref,
				communities: slices.Clone(adv.Communities),
				peers:       peers,
			})
		}
	}
	return out, nil
}

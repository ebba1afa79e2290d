package announce

import (
	"context"
	"errors"
	"net/netip"
)

// Announcer makes the network deliver traffic for announced addresses to
// this node. Implementations are safe for concurrent use.
type Announcer interface {
	// Announce starts (or updates) the announcement of a.Service. Addresses
	// previously announced for the same service and absent from a are
	// withdrawn. It returns ErrInvalid (wrapped) for an Announcement the
	// announcer cannot carry out, e.g. a missing mode option.
	Announce(ctx context.Context, a Announcement) error
	// Withdraw stops announcing every address of service. Withdrawing an
	// unknown service is not an error.
	Withdraw(ctx context.Context, service string) error
	// Run blocks until ctx is done, then stops announcing (gracefully where
	// the mode allows it) and returns once every goroutine it started has
	// exited.
	Run(ctx context.Context) error
}

// ErrInvalid reports an Announcement that cannot be carried out as given.
var ErrInvalid = errors.New("announce: invalid announcement")

// Announcement is what one service asks of an announcer.
type Announcement struct {
	// Service identifies the service, e.g. "namespace/name". Required.
	Service string
	// Addresses are the service's external addresses, IPv4 and/or IPv6.
	Addresses []netip.Addr
	// L2 carries the layer 2 options; announcers other than l2 ignore it.
	L2 L2Options
	// BGP carries the BGP advertisements; announcers other than bgp ignore it.
	BGP []BGPAdvertisement
}

// L2Options tells a layer 2 announcer where to answer.
type L2Options struct {
	// Interfaces restricts ARP/NDP answers to these interface names. Empty
	// means the announcer's default set of interfaces.
	Interfaces []string
}

// BGPAdvertisement says how to advertise the service's addresses over BGP.
// A service may carry several advertisements (MetalLB's BGPAdvertisements
// combine); each is applied independently.
type BGPAdvertisement struct {
	// AggregationLength is the prefix length advertised for IPv4 addresses;
	// 0 means 32. AggregationLengthV6 is the same for IPv6; 0 means 128.
	AggregationLength   int
	AggregationLengthV6 int
	// LocalPref is the LOCAL_PREF attribute, sent to iBGP peers only; 0
	// means none is set.
	LocalPref uint32
	// Communities are attached to the route.
	Communities []Community
	// Peers limits the advertisement to the named peers; empty means all.
	Peers []string
}

// Prefixes returns the prefixes a advertises for addrs, in order, without
// duplicates (several addresses may share one aggregate).
func (a BGPAdvertisement) Prefixes(addrs []netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	seen := make(map[netip.Prefix]bool, len(addrs))
	for _, addr := range addrs {
		bits := a.AggregationLength
		if addr.Is6() {
			bits = a.AggregationLengthV6
		}
		if bits <= 0 || bits > addr.BitLen() {
			bits = addr.BitLen()
		}
		p, err := addr.Prefix(bits)
		if err != nil || seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
	}
	return out
}

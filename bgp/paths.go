package bgp

import (
	"net/netip"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	bgppkt "github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// newPath builds the GoBGP path for p with attributes a. An invalid nextHop
// leaves the next hop unspecified, which GoBGP replaces with the session's
// local address (RFC 4271 5.1.3: this node's address on the session).
func newPath(p netip.Prefix, a attrs, nextHop netip.Addr, withdraw bool) (*api.Path, error) {
	attrList := []bgppkt.PathAttributeInterface{
		bgppkt.NewPathAttributeOrigin(bgppkt.BGP_ORIGIN_ATTR_TYPE_IGP),
	}
	var nlri bgppkt.AddrPrefixInterface
	if p.Addr().Is4() {
		nlri = bgppkt.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String())
		nh := "0.0.0.0"
		if nextHop.Is4() {
			nh = nextHop.String()
		}
		attrList = append(attrList, bgppkt.NewPathAttributeNextHop(nh))
	} else {
		nlri = bgppkt.NewIPv6AddrPrefix(uint8(p.Bits()), p.Addr().String())
		nh := "::"
		if nextHop.Is6() {
			nh = nextHop.String()
		}
		attrList = append(attrList, bgppkt.NewPathAttributeMpReachNLRI(nh, []bgppkt.AddrPrefixInterface{nlri}))
	}
	if a.localPref != 0 {
		attrList = append(attrList, bgppkt.NewPathAttributeLocalPref(a.localPref))
	}
	if len(a.standard) > 0 {
		attrList = append(attrList, bgppkt.NewPathAttributeCommunities(a.standard))
	}
	if len(a.large) > 0 {
		l := make([]*bgppkt.LargeCommunity, len(a.large))
		for i, v := range a.large {
			l[i] = bgppkt.NewLargeCommunity(v[0], v[1], v[2])
		}
		attrList = append(attrList, bgppkt.NewPathAttributeLargeCommunities(l))
	}
	return apiutil.NewPath(nlri, withdraw, attrList, time.Now())
}

func family(p netip.Prefix) *api.Family {
	if p.Addr().Is4() {
		return &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	}
	return &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
}

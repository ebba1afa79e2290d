package bgp_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/lbkit/lbkit/announce"
	"github.com/lbkit/lbkit/bgp"
)

func Example() {
	sp, err := bgp.New(bgp.Config{RouterID: netip.MustParseAddr("192.0.2.11")})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	err = sp.SetPeers(ctx, []announce.BGPPeer{{
		Name:    "tor",
		MyASN:   64512,
		ASN:     64500,
		Address: netip.MustParseAddr("192.0.2.1"),
	}})
	fmt.Println("peers:", err)
	gshut, _ := announce.ParseCommunity("graceful-shutdown")
	err = sp.Announce(ctx, announce.Announcement{
		Service:   "default/web",
		Addresses: []netip.Addr{netip.MustParseAddr("203.0.113.10")},
		BGP:       []announce.BGPAdvertisement{{AggregationLength: 40, Communities: []announce.Community{gshut}}},
	})
	fmt.Println("invalid:", errors.Is(err, announce.ErrInvalid))
	// go sp.Run(ctx) would now open the session and advertise.

	// Output:
	// peers: <nil>
	// invalid: true
}

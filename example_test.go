package lbkit_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/lbkit/lbkit/allocator"
	"github.com/lbkit/lbkit/announce"
)

// printAnnouncer stands in for l2.Announcer or bgp.Speaker: any
// announce.Announcer receives the same calls.
type printAnnouncer struct{}

func (printAnnouncer) Announce(_ context.Context, a announce.Announcement) error {
	fmt.Println("announce", a.Service, a.Addresses)
	return nil
}

func (printAnnouncer) Withdraw(_ context.Context, service string) error {
	fmt.Println("withdraw", service)
	return nil
}

func (printAnnouncer) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// Example composes the two halves without Kubernetes: the allocator picks
// the addresses, an announcer makes the network send their traffic here.
func Example() {
	ranges, err := allocator.ParsePoolAddresses([]string{"192.0.2.10-192.0.2.20", "2001:db8::/120"})
	if err != nil {
		fmt.Println(err)
		return
	}
	alloc := allocator.New(allocator.Config{})
	if _, err := alloc.SetPools([]allocator.Pool{{Name: "default", Addresses: ranges, AutoAssign: true}}); err != nil {
		fmt.Println(err)
		return
	}
	var ann announce.Announcer = printAnnouncer{}
	ctx := context.Background()

	web, _ := alloc.Allocate(allocator.Request{Service: "shop/web",
		Families: allocator.FamilyPolicy{Stack: allocator.RequireDualStack}})
	ann.Announce(ctx, announce.Announcement{Service: web.Service, Addresses: web.Addresses})

	// A specific address, as spec.loadBalancerIP would ask.
	api, _ := alloc.Allocate(allocator.Request{Service: "shop/api",
		Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.15")}})
	ann.Announce(ctx, announce.Announcement{Service: api.Service, Addresses: api.Addresses})

	alloc.Release("shop/web")
	ann.Withdraw(ctx, "shop/web")
	// Output:
	// announce shop/web [192.0.2.10 2001:db8::]
	// announce shop/api [192.0.2.15]
	// withdraw shop/web
}

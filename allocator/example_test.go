package allocator_test

import (
	"errors"
	"fmt"

	"github.com/lbkit/lbkit/allocator"
)

func Example() {
	addrs, err := allocator.ParsePoolAddresses([]string{"192.168.10.0/30", "fc00::10-fc00::1f"})
	if err != nil {
		fmt.Println(err)
		return
	}
	a := allocator.New(allocator.Config{})
	if _, err := a.SetPools([]allocator.Pool{{Name: "default", Addresses: addrs, AutoAssign: true, AvoidBuggyIPs: true}}); err != nil {
		fmt.Println(err)
		return
	}

	web, _ := a.Allocate(allocator.Request{Service: "shop/web", Namespace: "shop",
		Families: allocator.FamilyPolicy{Stack: allocator.RequireDualStack}})
	fmt.Println(web.Service, web.Pool, web.Addresses)

	// Sharing: same key, different ports.
	dns := allocator.Request{Service: "infra/dns-udp", SharingKey: "dns",
		Ports: []allocator.Port{{Protocol: allocator.UDP, Port: 53}}}
	udp, _ := a.Allocate(dns)
	dns.Service, dns.Ports = "infra/dns-tcp", []allocator.Port{{Protocol: allocator.TCP, Port: 53}}
	tcp, _ := a.Allocate(dns)
	fmt.Println(udp.Addresses, tcp.Addresses)

	// The pool is a /30 without .0: .1, .2, .3 exist; .3 is left.
	_, err = a.Allocate(allocator.Request{Service: "shop/api"})
	fmt.Println(err == nil)
	_, err = a.Allocate(allocator.Request{Service: "shop/admin"})
	fmt.Println(errors.Is(err, allocator.ErrPoolExhausted))

	st, _ := a.PoolStats("default")
	fmt.Println("IPv4", st.IPv4.InUse, "of", st.IPv4.Total, "IPv6", st.IPv6.InUse, "of", st.IPv6.Total)
	// Output:
	// shop/web default [192.168.10.1 fc00::10]
	// [192.168.10.2] [192.168.10.2]
	// true
	// true
	// IPv4 3 of 3 IPv6 1 of 16
}

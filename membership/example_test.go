package membership_test

import (
	"fmt"
	"net/netip"

	"github.com/lbkit/lbkit/membership"
)

// Every node runs the same election over the same alive set and gets the
// same owners; when a node goes, only its addresses move.
func ExampleElect() {
	vips := []membership.Candidate{
		{Addr: netip.MustParseAddr("192.0.2.200")},
		{Addr: netip.MustParseAddr("192.0.2.201")},
		{Addr: netip.MustParseAddr("2001:db8:1::200")},
	}
	all := membership.Elect("node1", vips, []string{"node1", "node2", "node3"})
	fewer := membership.Elect("node1", vips, []string{"node1", "node3"})
	for _, c := range vips {
		fmt.Printf("%-16s %s -> %s\n", c.Addr, all.Owners[c.Addr], fewer.Owners[c.Addr])
	}
	// Output:
	// 192.0.2.200      node2 -> node3
	// 192.0.2.201      node3 -> node3
	// 2001:db8:1::200  node3 -> node3
}

// Package netlab builds small real networks on one Linux machine for
// lbkit's end-to-end tests and lab: network namespaces joined by veth pairs
// to a Linux bridge (the LAN switch), with an optional router and a host
// behind it. Every address is from the documentation ranges (RFC 5737,
// RFC 3849) and lives only inside the lab's namespaces; nothing is created
// in the root namespace.
//
// Topology (Options.Router adds router and ext):
//
//	ext 198.51.100.2 --- router 198.51.100.1 | 192.0.2.1
//	                                 |
//	                 bridge (its own namespace), LAN 192.0.2.0/24, 2001:db8:1::/64
//	                 /          |          \          \
//	        node1 .11     node2 .12     node3 .13     client .100
//
// A lab removes what it built on Close, and New first removes the leftovers
// of labs whose owning process died. It needs root; tests call NewT, which
// skips when not root.
package netlab

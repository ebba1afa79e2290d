// Package l2 announces service addresses on the local network segment the
// way MetalLB's layer 2 mode does: it answers ARP requests (RFC 826) for
// owned IPv4 addresses and Neighbor Solicitations (RFC 4861, section 7.2)
// for owned IPv6 addresses with the MAC address of the interface the
// question arrived on, so that one node receives all traffic for an
// address.
//
// When it starts announcing an address it sends a burst of gratuitous ARP
// packets (a request and a reply with sender = target = the address, RFC
// 5227 section 3 and RFC 5944 section 4.6) and unsolicited Neighbor
// Advertisements with the override flag (RFC 4861 section 7.2.6), so that
// hosts which had the address cached with another node's MAC switch over at
// once: that is what makes a failover fast.
//
// The Announcer implements announce.Announcer. It answers only for the
// addresses it was told to announce and only on the allowed interfaces:
// by default every interface that is up, broadcast-capable, not loopback,
// not NOARP and not a bridge or bond port (the bridge or bond itself is
// eligible); Config.Interfaces or an announcement's L2Options.Interfaces
// narrow that down. For IPv6 it joins the solicited-node multicast group of
// each owned address on each interface.
//
// Interfaces are found by a netlink link dump, repeated every
// Config.InterfacePoll (default 1 s) and at once after a socket error. A
// netlink subscription would notice a new interface a little sooner, but
// failover happens on interfaces that already exist, and polling has no
// lost-notification path to resynchronise.
//
// Sockets come from Config.Sockets (raw AF_PACKET for ARP, ICMPv6 for NDP
// by default), so tests can pass in-memory fakes. Opening raw sockets
// needs CAP_NET_RAW.
package l2

package l2

import (
	"net"

	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
	"golang.org/x/net/ipv6"
)

// RawSockets opens real sockets: AF_PACKET for ARP and an ICMPv6 socket
// bound to the interface's link-local address for NDP. Both need
// CAP_NET_RAW. It is the default Config.Sockets.
type RawSockets struct{}

// ListenARP implements Sockets.
func (RawSockets) ListenARP(l Link) (net.PacketConn, error) {
	return packet.Listen(l.Interface(), packet.Raw, etherTypeARP, nil)
}

// ListenNDP implements Sockets. The socket only receives Neighbor
// Solicitations and reports the hop limit of each.
func (RawSockets) ListenNDP(l Link) (NDPConn, error) {
	c, _, err := ndp.Listen(l.Interface(), ndp.LinkLocal)
	if err != nil {
		return nil, err
	}
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeNeighborSolicitation)
	if err := c.SetICMPFilter(&f); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.SetControlMessage(ipv6.FlagHopLimit, true); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

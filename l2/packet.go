package l2

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
)

// errNotARPRequest reports a frame that is not an Ethernet/IPv4 ARP request.
var errNotARPRequest = errors.New("l2: not an ARP request")

const (
	ethHeaderLen = 14
	etherTypeARP = 0x0806
)

// arpRequest is the part of an ARP request the responder needs.
type arpRequest struct {
	srcMAC    net.HardwareAddr // Ethernet source
	senderMAC net.HardwareAddr
	senderIP  netip.Addr
	targetIP  netip.Addr
}

// parseARPRequest decodes an untagged Ethernet frame carrying an
// Ethernet/IPv4 ARP request. Anything else returns errNotARPRequest.
// Returned hardware addresses alias b.
func parseARPRequest(b []byte) (arpRequest, error) {
	if len(b) < ethHeaderLen || binary.BigEndian.Uint16(b[12:14]) != etherTypeARP {
		return arpRequest{}, errNotARPRequest
	}
	var p arp.Packet
	if err := p.UnmarshalBinary(b[ethHeaderLen:]); err != nil {
		return arpRequest{}, errNotARPRequest
	}
	if p.Operation != arp.OperationRequest || p.HardwareType != 1 || p.ProtocolType != etherTypeIPv4 ||
		p.HardwareAddrLength != 6 || p.IPLength != 4 || !p.SenderIP.Is4() || !p.TargetIP.Is4() {
		return arpRequest{}, errNotARPRequest
	}
	return arpRequest{
		srcMAC:    net.HardwareAddr(b[6:12]),
		senderMAC: p.SenderHardwareAddr,
		senderIP:  p.SenderIP,
		targetIP:  p.TargetIP,
	}, nil
}

const etherTypeIPv4 = 0x0800

// arpFrame builds an Ethernet frame to dst carrying an ARP packet.
func arpFrame(op arp.Operation, dst, srcHW net.HardwareAddr, srcIP netip.Addr, tgtHW net.HardwareAddr, tgtIP netip.Addr) ([]byte, error) {
	p, err := arp.NewPacket(op, srcHW, srcIP, tgtHW, tgtIP)
	if err != nil {
		return nil, err
	}
	pb, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	f := ethernet.Frame{Destination: dst, Source: srcHW, EtherType: ethernet.EtherTypeARP, Payload: pb}
	return f.MarshalBinary()
}

// arpReply answers req for ip with mac, unicast to the asker.
func arpReply(req arpRequest, mac net.HardwareAddr, ip netip.Addr) ([]byte, error) {
	return arpFrame(arp.OperationReply, req.srcMAC, mac, ip, req.senderMAC, req.senderIP)
}

var zeroMAC = net.HardwareAddr{0, 0, 0, 0, 0, 0}

// gratuitousARP returns a gratuitous request (target MAC zero, as in RFC
// 5227 announcements) and a gratuitous reply (target MAC = sender MAC, which
// Linux requires to treat a reply as gratuitous), both broadcast.
func gratuitousARP(mac net.HardwareAddr, ip netip.Addr) (req, reply []byte, err error) {
	if req, err = arpFrame(arp.OperationRequest, ethernet.Broadcast, mac, ip, zeroMAC, ip); err != nil {
		return nil, nil, err
	}
	if reply, err = arpFrame(arp.OperationReply, ethernet.Broadcast, mac, ip, mac, ip); err != nil {
		return nil, nil, err
	}
	return req, reply, nil
}

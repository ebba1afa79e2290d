//go:build linux

package l2

import (
	"fmt"
	"net"
	"syscall"
	"unsafe"
)

const (
	iflaLinkInfo     = 18 // IFLA_LINKINFO
	iflaInfoSlaveKnd = 4  // IFLA_INFO_SLAVE_KIND
)

// netlinkLinks lists the interfaces of the calling thread's network
// namespace with one RTM_GETLINK dump. Unlike net.Interfaces it keeps the
// NOARP flag and the slave kind (bridge port, bond member).
func netlinkLinks() ([]Link, error) {
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETLINK, syscall.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("l2: netlink link dump: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return nil, fmt.Errorf("l2: netlink link dump: %w", err)
	}
	var links []Link
	for _, m := range msgs {
		if m.Header.Type != syscall.RTM_NEWLINK || len(m.Data) < syscall.SizeofIfInfomsg {
			continue
		}
		ifi := (*syscall.IfInfomsg)(unsafe.Pointer(&m.Data[0]))
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			continue
		}
		l := Link{
			Index:     int(ifi.Index),
			Up:        ifi.Flags&syscall.IFF_UP != 0,
			Broadcast: ifi.Flags&syscall.IFF_BROADCAST != 0,
			Loopback:  ifi.Flags&syscall.IFF_LOOPBACK != 0,
			NoARP:     ifi.Flags&syscall.IFF_NOARP != 0,
		}
		if ifi.Flags&syscall.IFF_SLAVE != 0 {
			l.SlaveKind = "bond"
		}
		for _, a := range attrs {
			switch a.Attr.Type {
			case syscall.IFLA_IFNAME:
				l.Name = cString(a.Value)
			case syscall.IFLA_MTU:
				if len(a.Value) >= 4 {
					l.MTU = int(*(*uint32)(unsafe.Pointer(&a.Value[0])))
				}
			case syscall.IFLA_ADDRESS:
				l.HardwareAddr = append(net.HardwareAddr(nil), a.Value...)
			case iflaLinkInfo:
				if k := slaveKind(a.Value); k != "" {
					l.SlaveKind = k
				}
			}
		}
		links = append(links, l)
	}
	return links, nil
}

// slaveKind finds IFLA_INFO_SLAVE_KIND in a nested IFLA_LINKINFO.
func slaveKind(b []byte) string {
	for len(b) >= 4 {
		n := int(uint16(b[0]) | uint16(b[1])<<8)
		typ := uint16(b[2]) | uint16(b[3])<<8
		if n < 4 || n > len(b) {
			return ""
		}
		if typ&0x3fff == iflaInfoSlaveKnd {
			return cString(b[4:n])
		}
		n = (n + 3) &^ 3
		if n > len(b) {
			return ""
		}
		b = b[n:]
	}
	return ""
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

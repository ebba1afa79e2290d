package l2

import (
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

// Defaults for zero Config fields.
const (
	DefaultGratuitousCount    = 3
	DefaultGratuitousInterval = 200 * time.Millisecond
	DefaultInterfacePoll      = time.Second
)

// Config configures an Announcer. Zero fields mean the documented default.
type Config struct {
	// Interfaces, when not empty, is the default set of interface names to
	// answer on, for announcements that name no interfaces themselves.
	// Empty means every eligible interface (see the package doc).
	Interfaces []string
	// GratuitousCount is how many gratuitous ARP / unsolicited NA rounds are
	// sent when an address starts being announced on an interface; default
	// DefaultGratuitousCount. A negative value sends none.
	GratuitousCount int
	// GratuitousInterval is the gap between two rounds; default
	// DefaultGratuitousInterval. The first round goes out at once.
	GratuitousInterval time.Duration
	// InterfacePoll is how often the interface list is refreshed; default
	// DefaultInterfacePoll.
	InterfacePoll time.Duration
	// Sockets opens the per-interface sockets; nil means raw sockets.
	Sockets Sockets
	// Links lists the host's interfaces; nil means a netlink dump of the
	// current network namespace.
	Links func() ([]Link, error)
	// Logger receives the announcer's logs; nil discards them.
	Logger *slog.Logger
}

// Link is a network interface as the announcer sees it.
type Link struct {
	Index        int
	Name         string
	MTU          int
	HardwareAddr net.HardwareAddr
	// Up, Broadcast, Loopback and NoARP mirror the IFF_ flags.
	Up, Broadcast, Loopback, NoARP bool
	// SlaveKind is "bridge" for a bridge port, "bond" for a bond member,
	// another kind (e.g. "vrf") or empty.
	SlaveKind string
}

// Interface returns l as a *net.Interface.
func (l Link) Interface() *net.Interface {
	f := net.Flags(0)
	if l.Up {
		f |= net.FlagUp
	}
	if l.Broadcast {
		f |= net.FlagBroadcast
	}
	if l.Loopback {
		f |= net.FlagLoopback
	}
	return &net.Interface{Index: l.Index, MTU: l.MTU, Name: l.Name, HardwareAddr: l.HardwareAddr, Flags: f}
}

// eligible reports whether l is in the default set of interfaces.
func (l Link) eligible() bool {
	return l.Up && l.Broadcast && !l.Loopback && !l.NoARP && len(l.HardwareAddr) == 6 &&
		l.SlaveKind != "bridge" && l.SlaveKind != "bond"
}

// Sockets opens the sockets the announcer reads and writes on one
// interface. Implementations are called from the announcer's Run
// goroutine only.
type Sockets interface {
	// ListenARP returns a socket that reads and writes whole Ethernet
	// frames of EtherType ARP on l; writes take a *packet.Addr or any
	// net.Addr the implementation understands.
	ListenARP(l Link) (net.PacketConn, error)
	// ListenNDP returns an ICMPv6 socket on l for Neighbor Discovery.
	ListenNDP(l Link) (NDPConn, error)
}

// NDPConn is the part of *ndp.Conn the announcer uses.
type NDPConn interface {
	ReadFrom() (ndp.Message, *ipv6.ControlMessage, netip.Addr, error)
	WriteTo(m ndp.Message, cm *ipv6.ControlMessage, dst netip.Addr) error
	JoinGroup(group netip.Addr) error
	LeaveGroup(group netip.Addr) error
	Close() error
}

// Stats counts what an Announcer saw and sent since it was created.
type Stats struct {
	// ARPRequests and NDPSolicitations count questions received for any
	// address on an allowed interface (owned or not).
	ARPRequests, NDPSolicitations uint64
	// ARPReplies and NDPAdvertisements count answers sent to questions.
	ARPReplies, NDPAdvertisements uint64
	// GratuitousARP counts gratuitous ARP packets sent (requests and
	// replies); UnsolicitedNA counts unsolicited Neighbor Advertisements.
	GratuitousARP, UnsolicitedNA uint64
	// Errors counts failed reads and writes.
	Errors uint64
}

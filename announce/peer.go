package announce

import (
	"context"
	"net/netip"
	"time"
)

// PeerSetter is implemented by announcers that hold sessions with routers
// (package bgp). SetPeers is declarative: the announcer adds, updates and
// removes sessions until it holds exactly peers. Defined here, free of any
// BGP library, so that a controller can drive a BGP announcer through this
// package alone.
type PeerSetter interface {
	SetPeers(ctx context.Context, peers []BGPPeer) error
}

// DynamicASN says what kind of session a peer with no fixed ASN is.
type DynamicASN string

const (
	// DynamicInternal accepts the peer as iBGP (its ASN equals MyASN).
	DynamicInternal DynamicASN = "internal"
	// DynamicExternal accepts any ASN other than MyASN (eBGP).
	DynamicExternal DynamicASN = "external"
)

// BGPPeer describes one BGP session, with the options MetalLB's BGPPeer has.
// Zero durations mean the announcer's documented defaults.
type BGPPeer struct {
	// Name identifies the peer; BGPAdvertisement.Peers refers to it.
	Name string
	// MyASN is the local AS number.
	MyASN uint32
	// ASN is the peer's AS number; 0 with Dynamic set accepts any of that kind.
	ASN     uint32
	Dynamic DynamicASN
	// Address is the peer's address; Port is its TCP port (0 means 179).
	Address netip.Addr
	Port    uint16
	// SourceAddress, when valid, is the local address the session uses.
	SourceAddress netip.Addr
	// RouterID, when valid, overrides the local router ID.
	RouterID netip.Addr
	// HoldTime, KeepaliveTime and ConnectTime are the BGP timers; ConnectTime
	// is the wait between connection attempts.
	HoldTime, KeepaliveTime, ConnectTime time.Duration
	// Password enables TCP MD5 signatures (RFC 2385) when not empty.
	Password string
	// EBGPMultiHop allows an eBGP peer more than one hop away.
	EBGPMultiHop bool
	// VRF is the Linux VRF the session lives in; empty is the default VRF.
	VRF string
	// GracefulRestart enables the graceful restart capability (RFC 4724).
	GracefulRestart bool
	// DualStack carries both IPv4 and IPv6 unicast over this one session
	// (MP-BGP); otherwise the session carries the family of Address.
	DualStack bool
}

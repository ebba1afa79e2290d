package bgp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/lbkit/lbkit/announce"
)

// Defaults for the zero fields of Config and announce.BGPPeer.
const (
	// DefaultConnectTime is the wait between connection attempts. GoBGP's
	// own default (120 s, doubled by jitter) leaves a node unreachable for
	// minutes after a router restarts; one to two seconds is cheap.
	DefaultConnectTime = 1 * time.Second
	// DefaultHoldTime and DefaultKeepaliveTime are MetalLB's defaults.
	DefaultHoldTime      = 90 * time.Second
	DefaultKeepaliveTime = 30 * time.Second
	// DefaultGracefulShutdownDelay is how long a planned stop keeps routes
	// up with the GRACEFUL_SHUTDOWN community before withdrawing them.
	DefaultGracefulShutdownDelay = 3 * time.Second
	// DefaultRestartTime is the graceful restart time offered to peers.
	DefaultRestartTime = 120 * time.Second
)

// ErrInvalidPeer reports a peer that cannot be configured as given.
var ErrInvalidPeer = errors.New("bgp: invalid peer")

// Config configures a Speaker. Zero fields mean the documented defaults.
type Config struct {
	// Logger receives the speaker's and GoBGP's messages, with a
	// component=bgp attribute. Nil discards them.
	Logger *slog.Logger
	// RouterID is the BGP identifier used for peers that set none. When it
	// is invalid too, a peer's IPv4 SourceAddress is used, else the peer
	// is rejected.
	RouterID netip.Addr
	// GracefulShutdownDelay is how long Run, once its context is done,
	// keeps every route advertised with the GRACEFUL_SHUTDOWN community
	// (RFC 8326) before it withdraws them and closes the sessions. Zero
	// means DefaultGracefulShutdownDelay; negative skips that step.
	GracefulShutdownDelay time.Duration
}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Logger = c.Logger.With("component", "bgp")
	if c.GracefulShutdownDelay == 0 {
		c.GracefulShutdownDelay = DefaultGracefulShutdownDelay
	}
	return c
}

// normalizePeer validates p and fills its defaults.
func (c Config) normalizePeer(p announce.BGPPeer) (announce.BGPPeer, error) {
	bad := func(format string, args ...any) (announce.BGPPeer, error) {
		return p, fmt.Errorf("%w %q: %s", ErrInvalidPeer, p.Name, fmt.Sprintf(format, args...))
	}
	if p.Name == "" {
		return bad("no name")
	}
	if !p.Address.IsValid() {
		return bad("no address")
	}
	p.Address = p.Address.Unmap()
	if p.MyASN == 0 {
		return bad("no local ASN")
	}
	switch p.Dynamic {
	case "":
		if p.ASN == 0 {
			return bad("no peer ASN and no dynamic ASN kind")
		}
	case announce.DynamicInternal, announce.DynamicExternal:
		if p.ASN != 0 {
			return bad("both a peer ASN and a dynamic ASN kind")
		}
	default:
		return bad("dynamic ASN kind %q is neither internal nor external", p.Dynamic)
	}
	if p.SourceAddress.IsValid() {
		p.SourceAddress = p.SourceAddress.Unmap()
		if p.SourceAddress.Is4() != p.Address.Is4() {
			return bad("source address %s and peer address %s differ in family", p.SourceAddress, p.Address)
		}
	}
	if !p.RouterID.IsValid() {
		switch {
		case c.RouterID.IsValid():
			p.RouterID = c.RouterID
		case p.SourceAddress.Is4():
			p.RouterID = p.SourceAddress
		default:
			return bad("no router ID (set the peer's or Config.RouterID)")
		}
	}
	if p.RouterID = p.RouterID.Unmap(); !p.RouterID.Is4() {
		return bad("router ID %s is not an IPv4 address", p.RouterID)
	}
	if p.HoldTime == 0 {
		p.HoldTime = DefaultHoldTime
	}
	if p.KeepaliveTime == 0 {
		p.KeepaliveTime = min(DefaultKeepaliveTime, p.HoldTime/3)
	}
	if p.ConnectTime == 0 {
		p.ConnectTime = DefaultConnectTime
	}
	switch {
	case p.HoldTime < 3*time.Second:
		return bad("hold time %v is below 3s", p.HoldTime)
	case p.KeepaliveTime < time.Second || p.KeepaliveTime > p.HoldTime:
		return bad("keepalive time %v is not between 1s and the hold time", p.KeepaliveTime)
	case p.ConnectTime < 0:
		return bad("negative connect time")
	}
	return p, nil
}

// internal reports whether the session is iBGP, as far as the
// configuration says (a dynamic peer is what its kind says).
func internal(p announce.BGPPeer) bool {
	if p.Dynamic != "" {
		return p.Dynamic == announce.DynamicInternal
	}
	return p.ASN == p.MyASN
}

// seconds rounds d up to whole seconds, at least 1: GoBGP's timers are
// whole seconds.
func seconds(d time.Duration) uint64 {
	s := uint64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

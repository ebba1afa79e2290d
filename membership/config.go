package membership

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/hashicorp/memberlist"
)

// Profile picks the defaults of the timers a Config leaves zero.
type Profile int

const (
	// ProfileLAN keeps memberlist's DefaultLANConfig timers (probe every
	// 1 s, probe timeout 500 ms, gossip every 200 ms, suspicion x4): a
	// dead node leaves the alive set after ~5 s. Watching: ping every
	// 100 ms, dead after 1 s without ack.
	ProfileLAN Profile = iota
	// ProfileFastLAN is for a quiet, local LAN: probe every 200 ms, probe
	// timeout 100 ms, gossip every 50 ms, suspicion x2, TCP timeout 1 s,
	// push/pull every 5 s; a dead node leaves the alive set after ~1-2 s.
	// Watching: ping every 20 ms, dead after 150 ms without ack.
	ProfileFastLAN
)

// Config configures a Membership. Zero fields take the documented default,
// which for timers depends on Profile.
type Config struct {
	// Name is this node's unique name. Required.
	Name string
	// BindAddr is the UDP and TCP address memberlist listens on; default
	// 0.0.0.0:7946.
	BindAddr netip.AddrPort
	// AdvertiseAddr is the address other nodes reach this one at; default:
	// BindAddr when it is a specific address, else memberlist's choice.
	AdvertiseAddr netip.AddrPort
	// Peers are "host:port" addresses of nodes to join; Run retries every
	// JoinRetry until one answers. Empty starts a cluster of one.
	Peers []string
	// SecretKey, when set, encrypts and authenticates all traffic with
	// AES-GCM; it must be 16, 24 or 32 bytes and equal on every node.
	SecretKey []byte
	// Profile selects timer defaults; default ProfileLAN.
	Profile Profile

	// Memberlist timers; zero takes the profile's value.
	ProbeInterval, ProbeTimeout, GossipInterval, PushPullInterval, TCPTimeout time.Duration
	SuspicionMult                                                             int

	// WatchInterval is how often a watched node is pinged; WatchTimeout is
	// how long without an ack declares it dead (at least three pings must
	// have been lost too). Zero takes the profile's value.
	WatchInterval, WatchTimeout time.Duration
	// RecoverAfter is how long a node dropped by watching must answer
	// again before it is taken back; default 1 s.
	RecoverAfter time.Duration
	// HandoffTimeout bounds how long Drain waits for acknowledgements;
	// default 3 s.
	HandoffTimeout time.Duration
	// LeaveTimeout bounds the graceful leave broadcast when Run stops;
	// default 1 s.
	LeaveTimeout time.Duration
	// JoinRetry is the wait between join attempts; default 1 s.
	// JoinTimeout is how long Ready waits for a first successful join;
	// default 10 s (ProfileFastLAN: 5 s).
	JoinRetry, JoinTimeout time.Duration

	// Logger receives logs, memberlist's included; nil discards them.
	Logger *slog.Logger
	// Transport replaces memberlist's UDP/TCP transport, e.g. with a
	// memberlist.MockNetwork transport in tests; BindAddr is then unused.
	Transport memberlist.Transport
}

func (c Config) withDefaults() Config {
	fast := c.Profile == ProfileFastLAN
	pick := func(d *time.Duration, lan, fastv time.Duration) {
		if *d <= 0 {
			*d = lan
			if fast {
				*d = fastv
			}
		}
	}
	pick(&c.ProbeInterval, time.Second, 200*time.Millisecond)
	pick(&c.ProbeTimeout, 500*time.Millisecond, 100*time.Millisecond)
	pick(&c.GossipInterval, 200*time.Millisecond, 50*time.Millisecond)
	pick(&c.PushPullInterval, 30*time.Second, 5*time.Second)
	pick(&c.TCPTimeout, 10*time.Second, time.Second)
	pick(&c.WatchInterval, 100*time.Millisecond, 20*time.Millisecond)
	pick(&c.WatchTimeout, time.Second, 150*time.Millisecond)
	pick(&c.RecoverAfter, time.Second, time.Second)
	pick(&c.HandoffTimeout, 3*time.Second, 3*time.Second)
	pick(&c.LeaveTimeout, time.Second, time.Second)
	pick(&c.JoinRetry, time.Second, time.Second)
	pick(&c.JoinTimeout, 10*time.Second, 5*time.Second)
	if c.SuspicionMult <= 0 {
		c.SuspicionMult = 4
		if fast {
			c.SuspicionMult = 2
		}
	}
	if !c.BindAddr.IsValid() {
		c.BindAddr = netip.AddrPortFrom(netip.IPv4Unspecified(), 7946)
	}
	if !c.AdvertiseAddr.IsValid() && !c.BindAddr.Addr().IsUnspecified() {
		c.AdvertiseAddr = c.BindAddr
	}
	return c
}

func (c Config) memberlist() *memberlist.Config {
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.Name
	mc.BindAddr = c.BindAddr.Addr().String()
	mc.BindPort = int(c.BindAddr.Port())
	mc.AdvertisePort = mc.BindPort
	if c.AdvertiseAddr.IsValid() {
		mc.AdvertiseAddr = c.AdvertiseAddr.Addr().String()
		mc.AdvertisePort = int(c.AdvertiseAddr.Port())
	}
	mc.SecretKey = c.SecretKey
	mc.ProbeInterval = c.ProbeInterval
	mc.ProbeTimeout = c.ProbeTimeout
	mc.GossipInterval = c.GossipInterval
	mc.PushPullInterval = c.PushPullInterval
	mc.TCPTimeout = c.TCPTimeout
	mc.SuspicionMult = c.SuspicionMult
	mc.Transport = c.Transport
	return mc
}

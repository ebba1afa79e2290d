package bgp

import (
	"net/netip"
	"time"
)

// SessionState is the BGP finite state machine state of a session
// (RFC 4271 8.2.2).
type SessionState string

// The session states.
const (
	StateIdle        SessionState = "idle"
	StateConnect     SessionState = "connect"
	StateActive      SessionState = "active"
	StateOpenSent    SessionState = "opensent"
	StateOpenConfirm SessionState = "openconfirm"
	StateEstablished SessionState = "established"
)

// PeerStatus is a snapshot of one session, for callers and metrics.
type PeerStatus struct {
	// Name and Address identify the peer as configured.
	Name    string
	Address netip.Addr
	// State is the session state; Since is when it entered it (zero before
	// the session first changes state).
	State SessionState
	Since time.Time
	// PeerASN is the peer's AS number as learnt from its OPEN (dynamic
	// peers) or as configured; 0 while unknown.
	PeerASN uint32
	// LocalAddress is this node's address on the session once connected.
	LocalAddress netip.Addr
	// PrefixesSent counts the prefixes currently advertised to the peer
	// (0 unless the session is established).
	PrefixesSent int
	// LastError is the most recent reason the session failed to come up or
	// went down, e.g. a connect timeout or a NOTIFICATION; empty if none.
	LastError string
}

// Established reports whether the session is up.
func (s PeerStatus) Established() bool { return s.State == StateEstablished }

// Uptime is how long the session has been established, 0 if it is not.
func (s PeerStatus) Uptime(now time.Time) time.Duration {
	if !s.Established() || s.Since.IsZero() {
		return 0
	}
	return now.Sub(s.Since)
}

// Package membership tells every node which nodes are alive and which of
// them owns each layer 2 address.
//
// A Membership wraps hashicorp/memberlist (SWIM gossip): join, alive set,
// join/leave events, optional AES encryption, graceful leave on stop. Its
// timers come from Config; ProfileLAN keeps memberlist's LAN defaults (a
// dead node is noticed after ~5 s), ProfileFastLAN tightens them for a
// quiet LAN.
//
// The owner of an address is elected without any message: every node
// ranks the eligible, alive nodes by SHA-256 of "<node name>#<address>"
// and the first wins, as MetalLB's layer 2 mode does (see Rank and Elect).
// A node joining or leaving only moves the addresses whose first-ranked
// node changed.
//
// Two additions make failover fast and planned stops lossless:
//
//   - Watching. For each address the second-ranked node pings the owner
//     directly over memberlist's transport every Config.WatchInterval and,
//     when no ack came for Config.WatchTimeout (and at least three pings
//     were lost), drops it from its own alive view so that it takes over at
//     once, without waiting for the gossip to declare the owner dead. The
//     other nodes catch up when memberlist does; they announce nothing in
//     between, so the views agree on what matters. A node whose own ticks
//     come late (a stalled process) does not judge others, and a dropped
//     node comes back only after answering for Config.RecoverAfter, so a
//     healthy network does not flap. If that was a false alarm, the
//     restored node gets a Reclaim event and should announce its addresses
//     again, since the watcher may have redirected neighbours' caches.
//
//   - Draining. Drain tells every peer directly that this node is leaving;
//     they drop it from their alive view, let their subscribers take over
//     its addresses, and only then acknowledge. Drain returns once every
//     peer has acknowledged, so the leaving node keeps answering until the
//     new owners have announced.
package membership

// Package bgp is lbkit's BGP announcer (RFC 4271): it advertises service
// addresses to routers, which then spread traffic over the nodes by ECMP,
// the way MetalLB's BGP mode does.
//
// A Speaker implements announce.Announcer and announce.PeerSetter. It is
// built on an embedded GoBGP v3 server per session, which gives each
// session its own router ID, local ASN and RIB: a route advertised to a
// subset of peers (BGPAdvertisement.Peers) is never in the RIB of another
// session, so it cannot leak. GoBGP's types and logger stay inside this
// package; its messages go to the Config's *slog.Logger.
//
// Sessions are outgoing only (as in MetalLB) and retry every ConnectTime
// (default one second, not GoBGP's two minutes). Peer options follow
// MetalLB's BGPPeer: ASNs or a dynamic ASN kind, port, source address,
// router ID, timers, TCP MD5 (RFC 2385), eBGP multihop, a Linux VRF (the
// socket is bound to the VRF device), graceful restart (RFC 4724), and
// both IPv4 and IPv6 unicast over one session (RFC 4760), in which case the
// next hop of the other family is this node's address of that family on
// the session's interface.
//
// Advertisements follow MetalLB's BGPAdvertisement: aggregation length,
// LOCAL_PREF (iBGP sessions only), standard (RFC 1997), large (RFC 8092)
// and well-known communities. Where several advertisements give the same
// prefix to a peer, communities are united and the highest LOCAL_PREF
// wins. The next hop is this node's address on the session.
//
// When Run's context ends, the speaker stops gracefully (RFC 8326): every
// route is re-advertised with GRACEFUL_SHUTDOWN (65535:0), kept for
// Config.GracefulShutdownDelay so routers move traffic away first, then
// withdrawn, and the sessions closed.
//
// Known GoBGP limits: its server loop never returns, so Run leaves one
// parked goroutine per engine (engines are reused across sessions); and
// its StartBgp writes two package-level variables of GoBGP's table package
// (always to the same values here), which the race detector reports when
// one process holds more than one GoBGP server.
package bgp

// Package announce defines the contract between lbkit's address owners
// (a Kubernetes speaker, or any other controller) and the announcers that
// make the network send a service's traffic to this node: the layer 2
// responder in package l2 (ARP, RFC 826; NDP, RFC 4861) and the BGP speaker
// in package bgp (RFC 4271).
//
// The contract is deliberately small and free of Kubernetes types: an
// Announcement names a service and the addresses to announce for it, plus
// the per-mode options the announcer needs. Announce is declarative and
// idempotent: announcing a service again replaces what was announced for
// it before. Withdraw removes everything announced for the service.
//
// An Announcer is long-lived: Run(ctx) blocks until ctx is done, owns every
// goroutine the announcer starts, and returns after they exit. Announce and
// Withdraw may be called before Run starts and from any goroutine.
package announce

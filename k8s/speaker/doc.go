// Package speaker is lbkit's per-node announcer for Kubernetes: it turns
// the controller's decisions (a LoadBalancer Service's
// status.loadBalancer.ingress and its ip-allocated-from-pool annotation)
// into announcements through the announce contract, as MetalLB's speaker
// does (seeds 000, 003, 004). It never imports packages l2 or bgp: the
// binary hands it an announce.Announcer for layer 2 and a BGPAnnouncer
// (announce.Announcer + announce.PeerSetter) for BGP.
//
// Layer 2. For each service the eligible nodes are those with a live
// speaker (Liveness, i.e. membership), selected by an L2Advertisement of
// the address's pool (node selectors), not labelled
// node.kubernetes.io/exclude-from-external-load-balancers, without the
// NetworkUnavailable condition, and, for externalTrafficPolicy Local, with
// a ready endpoint of the service. A service with no ready endpoint is not
// announced at all. membership.Elect picks one owner per service, keyed
// by its lowest address, the same on every node; the owner announces on
// the union of the interfaces of the advertisements that select it and
// writes a ServiceL2Status. When the alive view changes, the speaker
// re-elects inside the membership callback, so a draining peer's hand-off
// completes only after this node has announced what it took over.
//
// BGP. The sessions are the BGPPeers whose node selectors match this
// node (SetPeers). Each BGPAdvertisement of the pool that selects this
// node contributes its aggregation, localPref, communities and peers;
// externalTrafficPolicy Local advertises only from nodes with a ready
// endpoint. The speaker writes a ServiceBGPStatus per service it
// advertises.
//
// A configuration snapshot with errors keeps the last good one in force.
// When Run's context ends, the speaker withdraws everything it announced
// and deletes its status objects; the announcers' own Run does the
// graceful part (stop the BGP announcer first to keep its RFC 8326
// GRACEFUL_SHUTDOWN phase; drain membership before both to hand layer 2
// addresses over).
package speaker

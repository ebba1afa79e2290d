// Package config turns the metallb.io resources of a cluster into lbkit's
// configuration: allocator pools, layer 2 and BGP announcement policy, and
// BGP peers.
//
// Translate is a pure function of a Resources snapshot. It validates every
// object the way MetalLB does (overlapping pools, bad CIDRs and ranges,
// unknown pools, peers, BFD profiles and community aliases, missing
// password secrets, conflicting myASN, localPref towards eBGP-only peers,
// aggregation lengths wider than a pool allows, ...). Each problem is an
// *Error naming the object's kind, namespace/name and field. An object with
// an error is left out of the returned Config and everything else is kept,
// so the caller can choose between applying the partial configuration and
// keeping the last good one, and can report each error on its object.
package config

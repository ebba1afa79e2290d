// Package lbkit is a library-first SDK that gives bare-metal Kubernetes
// clusters Services of type LoadBalancer, compatible with MetalLB's API.
//
// The work is split the way MetalLB splits it, into packages that can be
// used one by one:
//
//   - allocator picks addresses for services from pools (cluster-wide, one
//     active controller). It knows nothing of Kubernetes.
//   - announce is the contract between whoever decides which addresses this
//     node should announce and the announcers that do it.
//   - l2 answers ARP and NDP for owned addresses; membership tells which
//     nodes are alive and elects, per address, the one node that answers.
//   - bgp advertises addresses to routers from an embedded BGP speaker.
//   - k8s is the only package that imports Kubernetes: it turns metallb.io
//     resources into allocator pools and announcements, runs the controller
//     that writes Service status and the speaker that drives announcers.
//
// A controller that is not Kubernetes-based composes allocator with l2 or
// bgp directly; examples/ holds a reference binary that composes them all.
package lbkit

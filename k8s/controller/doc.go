// Package controller is lbkit's allocating controller for Kubernetes: it
// gives Services of type LoadBalancer their external addresses from the
// allocator and writes them to status.loadBalancer.ingress, with the
// ip-allocated-from-pool annotation and events, the way MetalLB's
// controller does.
//
// It is built like kubernetes/sample-controller: informers feed a
// rate-limited work queue, and sync(ctx, key) is idempotent. Two rules
// come before everything else:
//
//   - Restart safety: before any new allocation, every address already in a
//     Service's status is restored into the allocator, so a restart changes
//     no address.
//   - No silent moves: a pool change that would strand an address or make
//     it ineligible leaves the address in place and raises a Warning event
//     on the Service; the user decides.
//
// Pools come from outside through ApplyPools (package k8s/config turns
// metallb.io resources into pools), so the controller can also be driven by
// a configuration that is not stored in the cluster.
package controller

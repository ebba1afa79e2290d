// Package annotations reads and writes the Service annotations of MetalLB's
// API, under both the current metallb.io/ prefix and the legacy
// metallb.universe.tf/ prefix:
//
//   - loadBalancerIPs: the addresses a service asks for, comma separated
//     (one per family), instead of or in agreement with spec.loadBalancerIP
//   - address-pool: the pool to allocate from
//   - allow-shared-ip: a key under which services may share an address
//   - ip-allocated-from-pool: written by the controller, the pool the
//     service's address came from
//
// Request turns a LoadBalancer Service into an allocator.Request; every
// error names the field or annotation at fault.
package annotations

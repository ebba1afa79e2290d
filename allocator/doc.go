// Package allocator assigns IP addresses from pools to services, the
// address-allocation half of MetalLB (see the seeds in lbkit's design:
// IPAddressPool ranges, autoAssign, avoidBuggyIPs, serviceAllocation,
// requested addresses and pools, IP sharing, dual-stack), without
// Kubernetes types and without network I/O.
//
// Configure pools with SetPools (ParsePoolAddresses reads MetalLB's
// "CIDR | from-to | single" strings), then call Allocate for each service.
// After a restart, Assign every address read back from Service status
// before allocating anything new: Assign is idempotent and refuses a
// conflict with a *ConflictError naming the holder.
//
// Stability is the rule: an address, once given, moves only when the
// service's own request can no longer be met by it. Pool changes never
// move or drop an assignment; WhatIf reports beforehand which assignments
// a new pool set would strand (address in no pool) or make ineligible
// (pool no longer admits the service), and after SetPools those stay
// visible through Lookup until released.
//
// Everything is deterministic: same calls, same results. Pools are tried in
// priority then name order, and within a pool the lowest free address
// (ordered by address, not by the order ranges were listed) is taken.
//
// Each pool keeps the addresses held from it as an ordered set of
// intervals in a treap, so allocating, releasing and looking up cost
// O(log n) for n held addresses whatever the pool size (a /8 or a /64),
// memory grows with assignments only, and counts are exact for any IPv6
// pool (PoolStats uses math/big).
//
// Errors wrap the sentinels ErrPoolExhausted, ErrNoEligiblePool,
// ErrAddressInUse, ... for errors.Is. No input makes the package panic.
package allocator

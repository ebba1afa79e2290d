package allocator

import (
	"math/big"
	"net/netip"

	"go4.org/netipx"
)

// Pool is a named set of addresses services may be given, MetalLB's
// IPAddressPool without Kubernetes types.
type Pool struct {
	// Name identifies the pool; required and unique within a pool set.
	Name string
	// Addresses are the pool's ranges, IPv4 and IPv6 mixed. A CIDR is the
	// range of its first and last address; ParsePoolAddresses builds this
	// from MetalLB's "CIDR | a-b | single" strings. Ranges of one pool may
	// touch or overlap each other; ranges of two pools may not.
	Addresses []netipx.IPRange
	// AutoAssign lets Allocate pick the pool for a service that names no
	// pool and no address. MetalLB defaults it to true; the zero value here
	// is false, so set it explicitly.
	AutoAssign bool
	// AvoidBuggyIPs keeps IPv4 addresses ending in .0 and .255 out of the
	// pool: they are never handed out and are not counted in its totals.
	AvoidBuggyIPs bool
	// Allocation restricts and orders the pool for services; nil admits
	// every service and places the pool after all pools that have one.
	Allocation *ServiceAllocation
}

// ServiceAllocation is MetalLB's serviceAllocation: which services a pool
// admits and in which order auto-assignment tries it.
//
// The conditions are ANDed: a service is admitted when its namespace is in
// Namespaces or matches one of NamespaceSelectors (if either is set), and
// its labels match one of ServiceSelectors (if set).
type ServiceAllocation struct {
	// Priority orders pools for auto-assignment: a lower number is tried
	// first. 0 means unset, which is the lowest priority (tried after every
	// pool with a priority). Equal priorities are ordered by pool name.
	Priority int
	// Namespaces lists namespaces whose services the pool admits.
	Namespaces []string
	// NamespaceSelectors admit services whose namespace labels match any.
	NamespaceSelectors []Selector
	// ServiceSelectors admit services whose labels match any.
	ServiceSelectors []Selector
}

// Selector is a Kubernetes-free label selector: every MatchLabels pair and
// every MatchExpressions requirement must hold. The zero Selector matches
// every label set, as an empty metav1.LabelSelector does.
type Selector struct {
	MatchLabels      map[string]string
	MatchExpressions []Requirement
}

// Requirement is one label selector expression.
type Requirement struct {
	Key      string
	Operator Operator
	// Values must be non-empty for In and NotIn and empty otherwise.
	Values []string
}

// Operator is a label selector operator.
type Operator string

// The selector operators, spelled as in Kubernetes.
const (
	OpIn           Operator = "In"
	OpNotIn        Operator = "NotIn"
	OpExists       Operator = "Exists"
	OpDoesNotExist Operator = "DoesNotExist"
)

// Family is an IP address family.
type Family uint8

// The address families. The zero Family is unspecified.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

// StackPolicy is the service's IP family policy.
type StackPolicy uint8

// The stack policies of Kubernetes' spec.ipFamilyPolicy.
const (
	// SingleStack asks for one address of the primary family.
	SingleStack StackPolicy = iota
	// PreferDualStack asks for one address per family if the pool has
	// both, else one of the primary family; the missing family is added
	// from the same pool later when it becomes available.
	PreferDualStack
	// RequireDualStack asks for one address per family, both from one pool.
	RequireDualStack
)

// FamilyPolicy says which families a service wants.
type FamilyPolicy struct {
	Stack StackPolicy
	// Primary is the first family (spec.ipFamilies[0]). Zero means the
	// family of the first requested address, or IPv4 if none is requested.
	Primary Family
}

// Protocol is a transport protocol as Kubernetes spells it ("TCP", "UDP",
// "SCTP"). Protocols compare exactly.
type Protocol string

// The protocols Kubernetes services use.
const (
	TCP  Protocol = "TCP"
	UDP  Protocol = "UDP"
	SCTP Protocol = "SCTP"
)

// Port is one service port. Two services sharing an address may not both
// use the same Port.
type Port struct {
	Protocol Protocol
	Port     uint16
}

// Request describes a service asking for addresses.
type Request struct {
	// Service identifies the service, e.g. "namespace/name". Required.
	Service string
	// Namespace is the service's namespace, for ServiceAllocation.
	Namespace string
	// Labels and NamespaceLabels are matched by ServiceAllocation selectors.
	Labels          map[string]string
	NamespaceLabels map[string]string
	// Families is the IP family policy; the zero value is single-stack
	// IPv4 (or the family of the requested address).
	Families FamilyPolicy
	// Addresses are specific requested addresses (spec.loadBalancerIP or
	// the loadBalancerIPs annotation): at most one per family.
	Addresses []netip.Addr
	// Pool names the pool to allocate from (the address-pool annotation).
	Pool string
	// SharingKey (allow-shared-ip) lets services with the same non-empty
	// key share an address when their Ports do not overlap and their
	// BackendKeys are equal.
	SharingKey string
	// BackendKey is empty for externalTrafficPolicy Cluster; for Local it
	// identifies the backends (e.g. the canonical pod selector), so that
	// only Local services with the same backends share an address.
	BackendKey string
	// Ports are the service's ports, checked when sharing.
	Ports []Port
}

// Assignment is what a service holds.
type Assignment struct {
	Service string
	// Pool is the pool the addresses came from. For a stranded assignment
	// it is the pool they were last in.
	Pool string
	// Addresses holds one address per family, primary family first.
	Addresses []netip.Addr
	// SharingKey is the key the addresses are held under.
	SharingKey string
	// Stranded is true when an address is in no pool, or the addresses
	// are in different pools, under the current pool set. The addresses
	// stay reserved until the service is released.
	Stranded bool
	// Ineligible is true when the pool no longer admits the service (its
	// ServiceAllocation or AvoidBuggyIPs changed, or labels changed). The
	// assignment is kept: MetalLB never moves an address on such a change.
	Ineligible bool
}

// Reason says why a Report lists an assignment.
type Reason uint8

// The reasons a pool change reports an assignment.
const (
	// Stranded: an address would be in no pool, or its addresses would
	// be in different pools.
	Stranded Reason = iota + 1
	// Ineligible: the address's pool would not admit the service.
	Ineligible
	// Repooled: the addresses stay valid but belong to a pool with another
	// name.
	Repooled
)

// Change is one assignment a pool set strands, makes ineligible or moves to
// another pool name. Addresses are never changed by a pool change.
type Change struct {
	Service   string
	Addresses []netip.Addr
	OldPool   string
	// NewPool is the pool holding the addresses under the new set; empty
	// when Stranded.
	NewPool string
	Reason  Reason
}

// Report describes what a pool set does to existing assignments.
type Report struct {
	// Changes are sorted by service.
	Changes []Change
}

// FamilyStats counts one family of a pool. Total and Available are exact
// (a /64 has 2^64 addresses) and freshly allocated for each call.
type FamilyStats struct {
	// Total is the number of addresses the pool can hand out.
	Total *big.Int
	// InUse is the number of distinct pool addresses held; a shared address
	// counts once.
	InUse uint64
	// Available is Total minus InUse.
	Available *big.Int
}

// PoolStats counts a pool's addresses and holders.
type PoolStats struct {
	Pool string
	IPv4 FamilyStats
	IPv6 FamilyStats
	// Services is the number of services whose assignment names the pool.
	Services int
}

// Config configures an Allocator. The zero Config is valid; it has no
// fields yet and exists so options can be added without breaking callers.
type Config struct{}

package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// IPAddressPoolSpec is the desired state of an IPAddressPool.
type IPAddressPoolSpec struct {
	// Addresses are the ranges the pool hands out, IPv4 and IPv6 mixed. Each
	// is a CIDR ("192.168.10.0/24"), a from-to range
	// ("192.168.9.1-192.168.9.5") or a single address. At most 1000 entries
	// of 100 characters: lbkit checks the syntax with CEL in place of
	// MetalLB's webhook, and CEL needs bounds (MetalLB's CRD has none).
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:MaxLength=100
	// +kubebuilder:validation:items:XValidation:rule="isCIDR(self) || isIP(self) || (self.split('-').size() == 2 && isIP(self.split('-')[0].trim()) && isIP(self.split('-')[1].trim()))",message="each address must be a CIDR, a from-to range or a single IP address"
	Addresses []string `json:"addresses"`

	// AutoAssign lets the controller pick this pool for services that do
	// not name a pool or an address.
	// +optional
	// +kubebuilder:default:=true
	AutoAssign *bool `json:"autoAssign,omitempty"`

	// AvoidBuggyIPs keeps IPv4 addresses ending in .0 and .255 out of the
	// pool.
	// +optional
	// +kubebuilder:default:=false
	AvoidBuggyIPs bool `json:"avoidBuggyIPs,omitempty"`

	// ServiceAllocation restricts the pool to some namespaces and services
	// and orders it against other pools. Without it the pool admits every
	// service and is tried after every pool that has a priority.
	// +optional
	ServiceAllocation *ServiceAllocation `json:"serviceAllocation,omitempty"`
}

// ServiceAllocation says which services a pool admits and with what
// priority. The namespace and service conditions are ANDed.
type ServiceAllocation struct {
	// Priority orders matching pools: a lower number is tried first; 0 (or
	// unset) is tried last.
	// +optional
	Priority int `json:"priority,omitempty"`
	// Namespaces lists the namespaces whose services may use the pool.
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`
	// NamespaceSelectors select namespaces whose services may use the pool,
	// in addition to Namespaces.
	// +optional
	NamespaceSelectors []metav1.LabelSelector `json:"namespaceSelectors,omitempty"`
	// ServiceSelectors select the services that may use the pool.
	// +optional
	ServiceSelectors []metav1.LabelSelector `json:"serviceSelectors,omitempty"`
}

// IPAddressPoolStatus counts the pool's addresses. Counts beyond the range
// of int64 (large IPv6 pools) are reported as the largest int64 in the
// MetalLB fields; AvailableIPv6Exact always holds the exact figure.
type IPAddressPoolStatus struct {
	// AssignedIPv4 is the number of assigned IPv4 addresses.
	AssignedIPv4 int64 `json:"assignedIPv4"`
	// AssignedIPv6 is the number of assigned IPv6 addresses.
	AssignedIPv6 int64 `json:"assignedIPv6"`
	// AvailableIPv4 is the number of IPv4 addresses still free.
	AvailableIPv4 int64 `json:"availableIPv4"`
	// AvailableIPv6 is the number of IPv6 addresses still free.
	AvailableIPv6 int64 `json:"availableIPv6"`
	// AvailableIPv6Exact is AvailableIPv6 in decimal, exact for pools of
	// any size (a /64 has 18446744073709551616 addresses). An lbkit
	// addition; MetalLB's field overflows there.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9]+$`
	// +kubebuilder:validation:MaxLength=40
	AvailableIPv6Exact string `json:"availableIPv6Exact,omitempty"`
}

// IPAddressPool is a pool of addresses LoadBalancer services can be given.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="Auto Assign",type=boolean,JSONPath=`.spec.autoAssign`
// +kubebuilder:printcolumn:name="Avoid Buggy IPs",type=boolean,JSONPath=`.spec.avoidBuggyIPs`
// +kubebuilder:printcolumn:name="Addresses",type=string,JSONPath=`.spec.addresses`
type IPAddressPool struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   IPAddressPoolSpec   `json:"spec"`
	Status IPAddressPoolStatus `json:"status,omitempty"`
}

// IPAddressPoolList is a list of IPAddressPools.
//
// +kubebuilder:object:root=true
type IPAddressPoolList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IPAddressPool `json:"items"`
}

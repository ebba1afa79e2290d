package v1beta2

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DynamicASNMode says which kind of session a peer without a fixed ASN is.
type DynamicASNMode string

// The dynamic ASN modes.
const (
	// InternalASNMode accepts the peer only if its ASN equals myASN (iBGP).
	InternalASNMode DynamicASNMode = "internal"
	// ExternalASNMode accepts the peer only if its ASN differs (eBGP).
	ExternalASNMode DynamicASNMode = "external"
)

// BGPPeerSpec is the desired state of a BGP session.
//
// +kubebuilder:validation:XValidation:rule="(has(self.peerASN) && self.peerASN != 0) != (has(self.dynamicASN) && size(self.dynamicASN) > 0)",message="exactly one of peerASN and dynamicASN must be set"
// +kubebuilder:validation:XValidation:rule="!(has(self.password) && size(self.password) > 0 && has(self.passwordSecret) && has(self.passwordSecret.name) && size(self.passwordSecret.name) > 0)",message="password and passwordSecret are mutually exclusive"
type BGPPeerSpec struct {
	// MyASN is the local AS number.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	MyASN uint32 `json:"myASN"`

	// ASN is the peer's AS number. Exactly one of ASN and DynamicASN is set.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	// +optional
	ASN uint32 `json:"peerASN,omitempty"`

	// DynamicASN accepts the peer's AS number as it comes: "internal"
	// requires it to equal myASN, "external" requires it to differ.
	// +kubebuilder:validation:Enum=internal;external
	// +optional
	DynamicASN DynamicASNMode `json:"dynamicASN,omitempty"`

	// Address is the peer's address.
	// +kubebuilder:validation:XValidation:rule="isIP(self)",message="peerAddress must be an IP address"
	Address string `json:"peerAddress"`

	// SrcAddress is the local address of the session.
	// +kubebuilder:validation:XValidation:rule="size(self) == 0 || isIP(self)",message="sourceAddress must be an IP address"
	// +optional
	SrcAddress string `json:"sourceAddress,omitempty"`

	// Port is the peer's TCP port.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=16384
	// +kubebuilder:default:=179
	Port uint16 `json:"peerPort,omitempty"`

	// HoldTime is the requested BGP hold time (RFC 4271).
	// +optional
	HoldTime *metav1.Duration `json:"holdTime,omitempty"`

	// KeepaliveTime is the requested BGP keepalive time (RFC 4271).
	// +optional
	KeepaliveTime *metav1.Duration `json:"keepaliveTime,omitempty"`

	// ConnectTime is the wait between connection attempts.
	// +kubebuilder:validation:XValidation:message="connect time should be between 1 seconds to 65535",rule="duration(self).getSeconds() >= 1 && duration(self).getSeconds() <= 65535"
	// +kubebuilder:validation:XValidation:message="connect time should contain a whole number of seconds",rule="duration(self).getMilliseconds() % 1000 == 0"
	// +optional
	ConnectTime *metav1.Duration `json:"connectTime,omitempty"`

	// RouterID is the BGP router ID advertised to the peer.
	// +kubebuilder:validation:XValidation:rule="size(self) == 0 || (isIP(self) && ip(self).family() == 4)",message="routerID must be an IPv4 address"
	// +optional
	RouterID string `json:"routerID,omitempty"`

	// NodeSelectors limit the nodes that connect to this peer; empty means
	// every node.
	// +optional
	NodeSelectors []metav1.LabelSelector `json:"nodeSelectors,omitempty"`

	// Password enables TCP MD5 authentication (RFC 2385).
	// +optional
	Password string `json:"password,omitempty"`

	// PasswordSecret names a Secret of type kubernetes.io/basic-auth whose
	// "password" key holds the MD5 password. Its namespace defaults to the
	// peer's.
	// +optional
	PasswordSecret corev1.SecretReference `json:"passwordSecret,omitempty"`

	// BFDProfile names the BFDProfile of the session; empty means no BFD.
	// +optional
	BFDProfile string `json:"bfdProfile,omitempty"`

	// EnableGracefulRestart enables BGP graceful restart (RFC 4724). It
	// cannot be changed after creation because it needs a session restart.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="EnableGracefulRestart cannot be changed after creation"
	EnableGracefulRestart bool `json:"enableGracefulRestart,omitempty"`

	// EBGPMultiHop marks an eBGP peer more than one hop away.
	// +optional
	EBGPMultiHop bool `json:"ebgpMultiHop,omitempty"`

	// VRFName is the host VRF the session runs in.
	// +optional
	VRFName string `json:"vrf,omitempty"`

	// DisableMP carries IPv4 and IPv6 in separate sessions instead of one
	// multiprotocol session.
	// +optional
	// +kubebuilder:default:=false
	DisableMP bool `json:"disableMP,omitempty"`
}

// BGPPeerStatus is empty; it exists for API compatibility.
type BGPPeerStatus struct{}

// BGPPeer is a BGP session the speakers hold with a router.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:storageversion
// +kubebuilder:printcolumn:name="Address",type=string,JSONPath=`.spec.peerAddress`
// +kubebuilder:printcolumn:name="ASN",type=string,JSONPath=`.spec.peerASN`
// +kubebuilder:printcolumn:name="BFD Profile",type=string,JSONPath=`.spec.bfdProfile`
// +kubebuilder:printcolumn:name="Multi Hops",type=string,JSONPath=`.spec.ebgpMultiHop`
type BGPPeer struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BGPPeerSpec   `json:"spec,omitempty"`
	Status BGPPeerStatus `json:"status,omitempty"`
}

// BGPPeerList is a list of BGPPeers.
//
// +kubebuilder:object:root=true
type BGPPeerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPPeer `json:"items"`
}

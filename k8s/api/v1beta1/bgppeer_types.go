package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// BGPPeerSpec is the deprecated v1beta1 shape of a BGP peer: a subset of
// v1beta2.BGPPeerSpec with the same JSON names, so the CRD serves both
// versions without a conversion webhook.
type BGPPeerSpec struct {
	// MyASN is the local AS number.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	MyASN uint32 `json:"myASN"`
	// ASN is the peer's AS number.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=4294967295
	// +kubebuilder:validation:Format=int64
	ASN uint32 `json:"peerASN"`
	// Address is the peer's address.
	Address string `json:"peerAddress"`
	// SrcAddress is the local address of the session.
	// +optional
	SrcAddress string `json:"sourceAddress,omitempty"`
	// Port is the peer's TCP port.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=16384
	Port uint16 `json:"peerPort,omitempty"`
	// HoldTime is the requested BGP hold time (RFC 4271).
	// +optional
	HoldTime metav1.Duration `json:"holdTime,omitempty"`
	// KeepaliveTime is the requested BGP keepalive time (RFC 4271).
	// +optional
	KeepaliveTime metav1.Duration `json:"keepaliveTime,omitempty"`
	// RouterID is the BGP router ID advertised to the peer.
	// +optional
	RouterID string `json:"routerID,omitempty"`
	// NodeSelectors limit the nodes that connect to this peer.
	// +optional
	NodeSelectors []NodeSelector `json:"nodeSelectors,omitempty"`
	// Password enables TCP MD5 authentication.
	// +optional
	Password string `json:"password,omitempty"`
	// BFDProfile names the BFDProfile of the session.
	// +optional
	BFDProfile string `json:"bfdProfile,omitempty"`
	// EBGPMultiHop marks a peer more than one hop away.
	// +optional
	EBGPMultiHop bool `json:"ebgpMultiHop,omitempty"`
}

// NodeSelector is v1beta1's own label selector.
type NodeSelector struct {
	// +optional
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
	// +optional
	MatchExpressions []MatchExpression `json:"matchExpressions,omitempty"`
}

// MatchExpression is one requirement of a NodeSelector.
type MatchExpression struct {
	Key      string `json:"key"`
	Operator string `json:"operator"`
	// +kubebuilder:validation:MinItems:=1
	Values []string `json:"values"`
}

// BGPPeerStatus is empty; it exists for API compatibility.
type BGPPeerStatus struct{}

// BGPPeer is the deprecated v1beta1 version of v1beta2.BGPPeer. Reading a
// v1beta2 object through v1beta1 shows only the v1beta1 fields.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:deprecatedversion:warning="v1beta1 is deprecated, please use v1beta2"
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

// BGPPeerList is a list of v1beta1 BGPPeers.
//
// +kubebuilder:object:root=true
type BGPPeerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BGPPeer `json:"items"`
}

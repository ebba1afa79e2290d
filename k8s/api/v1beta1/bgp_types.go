package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// BFDProfileSpec holds the settings of a BFD session (RFC 5880) tied to a
// BGP session. Unset fields take the BFD implementation's defaults.
type BFDProfileSpec struct {
	// ReceiveInterval is the minimum interval, in milliseconds, at which
	// this system can receive control packets (default 300).
	// +kubebuilder:validation:Minimum:=10
	// +kubebuilder:validation:Maximum:=60000
	// +optional
	ReceiveInterval *uint32 `json:"receiveInterval,omitempty"`
	// TransmitInterval is the minimum interval, in milliseconds, at which
	// this system wants to send control packets (default 300).
	// +kubebuilder:validation:Minimum:=10
	// +kubebuilder:validation:Maximum:=60000
	// +optional
	TransmitInterval *uint32 `json:"transmitInterval,omitempty"`
	// DetectMultiplier multiplies the remote transmit interval into the
	// detection time.
	// +kubebuilder:validation:Minimum:=2
	// +kubebuilder:validation:Maximum:=255
	// +optional
	DetectMultiplier *uint32 `json:"detectMultiplier,omitempty"`
	// EchoInterval is the minimum echo receive interval in milliseconds
	// (default 50).
	// +kubebuilder:validation:Minimum:=10
	// +kubebuilder:validation:Maximum:=60000
	// +optional
	EchoInterval *uint32 `json:"echoInterval,omitempty"`
	// EchoMode enables echo transmission (off by default; not for multihop
	// sessions).
	// +optional
	EchoMode *bool `json:"echoMode,omitempty"`
	// PassiveMode makes the session wait for the peer's control packets
	// before sending any.
	// +optional
	PassiveMode *bool `json:"passiveMode,omitempty"`
	// MinimumTTL is, for multihop sessions, the minimum TTL expected on an
	// incoming control packet.
	// +kubebuilder:validation:Minimum:=1
	// +kubebuilder:validation:Maximum:=254
	// +optional
	MinimumTTL *uint32 `json:"minimumTtl,omitempty"`
}

// BFDProfileStatus is empty; it exists for API compatibility.
type BFDProfileStatus struct{}

// BFDProfile is a named set of BFD settings a BGPPeer can refer to.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Passive Mode",type=boolean,JSONPath=`.spec.passiveMode`
// +kubebuilder:printcolumn:name="Transmit Interval",type=integer,JSONPath=`.spec.transmitInterval`
// +kubebuilder:printcolumn:name="Receive Interval",type=integer,JSONPath=`.spec.receiveInterval`
// +kubebuilder:printcolumn:name="Multiplier",type=integer,JSONPath=`.spec.detectMultiplier`
type BFDProfile struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BFDProfileSpec   `json:"spec,omitempty"`
	Status BFDProfileStatus `json:"status,omitempty"`
}

// BFDProfileList is a list of BFDProfiles.
//
// +kubebuilder:object:root=true
type BFDProfileList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BFDProfile `json:"items"`
}

// CommunityAlias names one BGP community value.
type CommunityAlias struct {
	// Name is the alias BGPAdvertisement.communities may use.
	Name string `json:"name,omitempty"`
	// Value is a standard community "1234:1234" or a large community
	// "large:1234:1234:1234".
	Value string `json:"value,omitempty"`
}

// CommunitySpec lists community aliases.
type CommunitySpec struct {
	Communities []CommunityAlias `json:"communities,omitempty"`
}

// CommunityStatus is empty; it exists for API compatibility.
type CommunityStatus struct{}

// Community is a set of named BGP communities that BGPAdvertisements refer
// to by name.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
type Community struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   CommunitySpec   `json:"spec,omitempty"`
	Status CommunityStatus `json:"status,omitempty"`
}

// CommunityList is a list of Communities.
//
// +kubebuilder:object:root=true
type CommunityList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Community `json:"items"`
}

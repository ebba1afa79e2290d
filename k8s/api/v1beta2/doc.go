// Package v1beta2 contains the metallb.io/v1beta2 API types: BGPPeer, the
// storage version of the BGPPeer CRD (which also serves v1beta1).
//
// Register them with a scheme of your own through AddToScheme; nothing here
// touches a global scheme.
//
// +kubebuilder:object:generate=true
// +groupName=metallb.io
package v1beta2

// Package v1beta1 contains the metallb.io/v1beta1 API types.
//
// Register them with a scheme of your own through AddToScheme; nothing here
// touches a global scheme.
//
// +kubebuilder:object:generate=true
// +groupName=metallb.io
package v1beta1

// Package api holds lbkit's Go types for MetalLB's metallb.io API, one
// subpackage per version: v1beta1 (IPAddressPool, L2Advertisement,
// BGPAdvertisement, BFDProfile, Community, ServiceL2Status,
// ServiceBGPStatus, ConfigurationState and the deprecated BGPPeer) and
// v1beta2 (BGPPeer, the storage version).
//
// Field names, JSON names, defaults and validation follow MetalLB's
// published CRDs, so an existing MetalLB configuration applies unchanged.
// The CRD manifests generated from these types live in package
// github.com/lbkit/lbkit/k8s/crds; run `go generate ./...` after editing.
package api

package v1beta2

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of every MetalLB resource.
const GroupName = "metallb.io"

// SchemeGroupVersion is metallb.io/v1beta2.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1beta2"}

// BGPPeersResource is the BGPPeer resource, for dynamic clients and informers.
var BGPPeersResource = SchemeGroupVersion.WithResource("bgppeers")

// AddToScheme registers this version's types with s.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion, &BGPPeer{}, &BGPPeerList{})
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}

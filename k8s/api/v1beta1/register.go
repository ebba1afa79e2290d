package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is the API group of every MetalLB resource.
const GroupName = "metallb.io"

// SchemeGroupVersion is metallb.io/v1beta1.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1beta1"}

// Resources of this version, for dynamic clients and informers.
var (
	IPAddressPoolsResource      = SchemeGroupVersion.WithResource("ipaddresspools")
	L2AdvertisementsResource    = SchemeGroupVersion.WithResource("l2advertisements")
	BGPAdvertisementsResource   = SchemeGroupVersion.WithResource("bgpadvertisements")
	BFDProfilesResource         = SchemeGroupVersion.WithResource("bfdprofiles")
	CommunitiesResource         = SchemeGroupVersion.WithResource("communities")
	ServiceL2StatusesResource   = SchemeGroupVersion.WithResource("servicel2statuses")
	ServiceBGPStatusesResource  = SchemeGroupVersion.WithResource("servicebgpstatuses")
	ConfigurationStatesResource = SchemeGroupVersion.WithResource("configurationstates")
	// BGPPeersResource serves the deprecated v1beta1 BGPPeer; use
	// v1beta2.BGPPeersResource.
	BGPPeersResource = SchemeGroupVersion.WithResource("bgppeers")
)

// AddToScheme registers this version's types with s.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion,
		&IPAddressPool{}, &IPAddressPoolList{},
		&L2Advertisement{}, &L2AdvertisementList{},
		&BGPAdvertisement{}, &BGPAdvertisementList{},
		&BFDProfile{}, &BFDProfileList{},
		&Community{}, &CommunityList{},
		&ServiceL2Status{}, &ServiceL2StatusList{},
		&ServiceBGPStatus{}, &ServiceBGPStatusList{},
		&ConfigurationState{}, &ConfigurationStateList{},
		&BGPPeer{}, &BGPPeerList{},
	)
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}

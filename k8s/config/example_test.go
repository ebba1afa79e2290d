package config_test

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lbkit/lbkit/k8s/api/v1beta1"
	"github.com/lbkit/lbkit/k8s/config"
)

func ExampleTranslate() {
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: "metallb-system", Name: name} }
	r := config.Resources{
		Pools: []v1beta1.IPAddressPool{
			{ObjectMeta: meta("first"), Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"192.0.2.0/28", "2001:db8::/124"}}},
			{ObjectMeta: meta("second"), Spec: v1beta1.IPAddressPoolSpec{Addresses: []string{"192.0.2.8-192.0.2.20"}}},
		},
		BGPAdvertisements: []v1beta1.BGPAdvertisement{
			{ObjectMeta: meta("adv"), Spec: v1beta1.BGPAdvertisementSpec{Communities: []string{"no-export", "gold"}}},
		},
	}
	cfg, errs := config.Translate(r)
	for _, p := range cfg.Pools {
		fmt.Println("pool", p.Name, p.Addresses)
	}
	for _, e := range errs {
		fmt.Println(e)
	}
	// Output:
	// pool first [192.0.2.0-192.0.2.15 2001:db8::-2001:db8::f]
	// BGPAdvertisement metallb-system/adv: spec.communities[1]: not found: no Community defines this alias, and it is not a community value: "gold"
	// IPAddressPool metallb-system/second: spec.addresses: conflict: allocator: overlapping pools: 192.0.2.8-192.0.2.15 overlaps IPAddressPool metallb-system/first
}

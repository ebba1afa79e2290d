package config

import (
	"strings"
	"testing"

	"go4.org/netipx"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lbkit/lbkit/k8s/api/v1beta1"
)

// FuzzTranslatePools checks that any pool addresses either yield errors or
// pools that do not overlap, and that Translate never panics.
func FuzzTranslatePools(f *testing.F) {
	for _, s := range []string{
		"192.168.10.0/24|192.168.10.5",
		"192.168.9.1-192.168.9.5|fc00:f853:0ccd:e799::/124",
		"10.0.0.0/8|10.0.0.0/33|::/0",
		"1.2.3.4 - 1.2.3.9|1.2.3.9",
	} {
		f.Add(s, int32(24))
	}
	f.Fuzz(func(t *testing.T, spec string, agg int32) {
		var r Resources
		for i, part := range strings.Split(spec, "|") {
			r.Pools = append(r.Pools, v1beta1.IPAddressPool{
				ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: string(rune('a' + i%26))},
				Spec:       v1beta1.IPAddressPoolSpec{Addresses: strings.Split(part, ",")},
			})
		}
		r.BGPAdvertisements = []v1beta1.BGPAdvertisement{{
			ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "adv"},
			Spec:       v1beta1.BGPAdvertisementSpec{AggregationLength: &agg},
		}}
		cfg, _ := Translate(r)
		var all netipx.IPSetBuilder
		for _, p := range cfg.Pools {
			var b netipx.IPSetBuilder
			for _, rg := range p.Addresses {
				b.AddRange(rg)
			}
			s, _ := b.IPSet()
			sofar, _ := all.IPSet()
			if sofar.Overlaps(s) {
				t.Fatalf("pool %s overlaps an earlier pool in %v", p.Name, cfg.Pools)
			}
			all.AddSet(s)
		}
	})
}

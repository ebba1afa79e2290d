package annotations_test

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lbkit/lbkit/k8s/annotations"
)

func ExampleRequest() {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "shop",
			Name:      "web",
			Annotations: map[string]string{
				"metallb.universe.tf/loadBalancerIPs": "192.0.2.10",
				"metallb.io/address-pool":             "first-pool",
			},
		},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer},
	}
	req, err := annotations.Request(svc, nil)
	fmt.Println(req.Service, req.Pool, req.Addresses, err)

	svc.Spec.LoadBalancerIP = "192.0.2.11"
	_, err = annotations.Request(svc, nil)
	fmt.Println(err)
	// Output:
	// shop/web first-pool [192.0.2.10] <nil>
	// invalid service: spec.loadBalancerIP "192.0.2.11": disagrees with metadata.annotations[metallb.universe.tf/loadBalancerIPs]="192.0.2.10"; set only one of them
}

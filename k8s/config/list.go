package config

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/lbkit/lbkit/k8s/api/v1beta1"
	"github.com/lbkit/lbkit/k8s/api/v1beta2"
)

var (
	secretsResource = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	nodesResource   = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
)

// List reads the Resources of namespace (MetalLB's namespace, e.g.
// "metallb-system") and the cluster's Nodes through a dynamic client. It
// suits one-shot tools and tests; a controller keeps informers instead and
// fills Resources from their caches.
func List(ctx context.Context, client dynamic.Interface, namespace string) (Resources, error) {
	var r Resources
	steps := []func() error{
		func() (err error) {
			r.Pools, err = list[v1beta1.IPAddressPool](ctx, client, v1beta1.IPAddressPoolsResource, namespace)
			return
		},
		func() (err error) {
			r.L2Advertisements, err = list[v1beta1.L2Advertisement](ctx, client, v1beta1.L2AdvertisementsResource, namespace)
			return
		},
		func() (err error) {
			r.BGPAdvertisements, err = list[v1beta1.BGPAdvertisement](ctx, client, v1beta1.BGPAdvertisementsResource, namespace)
			return
		},
		func() (err error) {
			r.Peers, err = list[v1beta2.BGPPeer](ctx, client, v1beta2.BGPPeersResource, namespace)
			return
		},
		func() (err error) {
			r.BFDProfiles, err = list[v1beta1.BFDProfile](ctx, client, v1beta1.BFDProfilesResource, namespace)
			return
		},
		func() (err error) {
			r.Communities, err = list[v1beta1.Community](ctx, client, v1beta1.CommunitiesResource, namespace)
			return
		},
		func() (err error) {
			r.Secrets, err = list[corev1.Secret](ctx, client, secretsResource, namespace)
			return
		},
		func() (err error) { r.Nodes, err = list[corev1.Node](ctx, client, nodesResource, ""); return },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return Resources{}, err
		}
	}
	return r, nil
}

func list[T any](ctx context.Context, client dynamic.Interface, gvr schema.GroupVersionResource, namespace string) ([]T, error) {
	var ri dynamic.ResourceInterface = client.Resource(gvr)
	if namespace != "" {
		ri = client.Resource(gvr).Namespace(namespace)
	}
	l, err := ri.List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("config: list %s: %w", gvr.Resource, err)
	}
	out := make([]T, len(l.Items))
	for i := range l.Items {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(l.Items[i].Object, &out[i]); err != nil {
			return nil, fmt.Errorf("config: decode %s %s/%s: %w", gvr.Resource, l.Items[i].GetNamespace(), l.Items[i].GetName(), err)
		}
	}
	return out, nil
}

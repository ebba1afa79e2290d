package deploy

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	authv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"

	"github.com/lbkit/lbkit/internal/kubetest"
)

const fieldManager = "lbkit-deploy-test"

type applier struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper
}

// apply server-side applies obj, as a dry run when dryRun is set.
func (a *applier) apply(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) error {
	gvk := obj.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return err
	}
	var res dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		res = a.dyn.Resource(m.Resource).Namespace(obj.GetNamespace())
	}
	opts := metav1.ApplyOptions{FieldManager: fieldManager, Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = res.Apply(ctx, obj.GetName(), obj, opts)
	return err
}

func established(ctx context.Context, dyn dynamic.Interface, obj *unstructured.Unstructured) error {
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	for {
		cur, err := dyn.Resource(gvr).Get(ctx, obj.GetName(), metav1.GetOptions{})
		if err == nil {
			conds, _, _ := unstructured.NestedSlice(cur.Object, "status", "conditions")
			for _, c := range conds {
				if m := c.(map[string]any); m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("CRD %s not established: %w", obj.GetName(), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestApplyToAPIServer applies the Namespace and the CRDs for real, then
// every manifest with a server-side apply dry run, against a real
// kube-apiserver: schemas, defaults, admission and RBAC escalation checks
// all run. It then applies the RBAC for real and checks, with
// SubjectAccessReviews, what each ServiceAccount may and may not do.
func TestApplyToAPIServer(t *testing.T) {
	env := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dyn := dynamic.NewForConfigOrDie(env.Config)
	client := kubernetes.NewForConfigOrDie(env.Config)
	disc := discovery.NewDiscoveryClientForConfigOrDie(env.Config)
	a := &applier{dyn: dyn, mapper: restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))}

	objs := objects(t)
	// A CRD that fails is reported and the rest carries on: the other
	// manifests do not depend on it.
	failed := map[*unstructured.Unstructured]bool{}
	for _, o := range objs {
		if k := o.GetKind(); k == "Namespace" || k == "CustomResourceDefinition" {
			if err := a.apply(ctx, o, false); err != nil {
				t.Errorf("apply %s %s: %v", k, o.GetName(), err)
				failed[o] = true
			}
		}
	}
	for _, o := range objs {
		if o.GetKind() == "CustomResourceDefinition" && !failed[o] {
			if err := established(ctx, dyn, o); err != nil {
				t.Fatal(err)
			}
		}
	}
	a.mapper.Reset()
	for _, o := range objs {
		if failed[o] {
			continue
		}
		if err := a.apply(ctx, o, true); err != nil {
			t.Errorf("dry-run apply %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}

	// The dry run left the RBAC objects out; apply them for real.
	for _, o := range objs {
		if slices.Contains([]string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}, o.GetKind()) {
			if err := a.apply(ctx, o, false); err != nil {
				t.Fatalf("apply %s %s: %v", o.GetKind(), o.GetName(), err)
			}
		}
	}
	const ns = "metallb-system"
	controller := "system:serviceaccount:" + ns + ":lbkit-controller"
	speaker := "system:serviceaccount:" + ns + ":lbkit-speaker"
	tests := []struct {
		name                                 string
		user, verb, group, resource, sub, in string
		resourceName                         string
		allowed                              bool
	}{
		{name: "controller patches services", user: controller, verb: "patch", resource: "services", in: "default", allowed: true},
		{name: "controller updates service status", user: controller, verb: "update", resource: "services", sub: "status", in: "default", allowed: true},
		{name: "controller watches namespaces", user: controller, verb: "watch", resource: "namespaces", allowed: true},
		{name: "controller creates events", user: controller, verb: "create", resource: "events", in: "default", allowed: true},
		{name: "controller lists secrets in its namespace", user: controller, verb: "list", resource: "secrets", in: ns, allowed: true},
		{name: "controller watches pools", user: controller, verb: "watch", group: "metallb.io", resource: "ipaddresspools", in: ns, allowed: true},
		{name: "controller patches pool status", user: controller, verb: "patch", group: "metallb.io", resource: "ipaddresspools", sub: "status", in: ns, allowed: true},
		{name: "controller creates configurationstates", user: controller, verb: "create", group: "metallb.io", resource: "configurationstates", in: ns, allowed: true},
		{name: "controller updates its lease", user: controller, verb: "update", group: "coordination.k8s.io", resource: "leases", in: ns, resourceName: "lbkit-controller", allowed: true},
		{name: "controller creates leases", user: controller, verb: "create", group: "coordination.k8s.io", resource: "leases", in: ns, allowed: true},
		{name: "controller cannot read secrets elsewhere", user: controller, verb: "list", resource: "secrets", in: "default"},
		{name: "controller cannot get secrets by name", user: controller, verb: "get", resource: "secrets", in: ns},
		{name: "controller cannot delete services", user: controller, verb: "delete", resource: "services", in: "default"},
		{name: "controller cannot write pools", user: controller, verb: "update", group: "metallb.io", resource: "ipaddresspools", in: ns},
		{name: "controller cannot take other leases", user: controller, verb: "update", group: "coordination.k8s.io", resource: "leases", in: ns, resourceName: "kube-scheduler"},
		{name: "controller cannot read pools elsewhere", user: controller, verb: "list", group: "metallb.io", resource: "ipaddresspools", in: "default"},
		{name: "speaker watches services", user: speaker, verb: "watch", resource: "services", allowed: true},
		{name: "speaker watches endpointslices", user: speaker, verb: "watch", group: "discovery.k8s.io", resource: "endpointslices", allowed: true},
		{name: "speaker lists nodes", user: speaker, verb: "list", resource: "nodes", allowed: true},
		{name: "speaker lists speaker pods", user: speaker, verb: "list", resource: "pods", in: ns, allowed: true},
		{name: "speaker watches bgppeers", user: speaker, verb: "watch", group: "metallb.io", resource: "bgppeers", in: ns, allowed: true},
		{name: "speaker creates servicel2statuses", user: speaker, verb: "create", group: "metallb.io", resource: "servicel2statuses", in: ns, allowed: true},
		{name: "speaker deletes servicebgpstatuses", user: speaker, verb: "delete", group: "metallb.io", resource: "servicebgpstatuses", in: ns, allowed: true},
		{name: "speaker updates servicel2status status", user: speaker, verb: "update", group: "metallb.io", resource: "servicel2statuses", sub: "status", in: ns, allowed: true},
		{name: "speaker patches configurationstate status", user: speaker, verb: "patch", group: "metallb.io", resource: "configurationstates", sub: "status", in: ns, allowed: true},
		{name: "speaker creates events", user: speaker, verb: "create", resource: "events", in: "default", allowed: true},
		{name: "speaker lists secrets in its namespace", user: speaker, verb: "list", resource: "secrets", in: ns, allowed: true},
		{name: "speaker cannot patch services", user: speaker, verb: "patch", resource: "services", in: "default"},
		{name: "speaker cannot write service status", user: speaker, verb: "update", resource: "services", sub: "status", in: "default"},
		{name: "speaker cannot read secrets elsewhere", user: speaker, verb: "list", resource: "secrets", in: "default"},
		{name: "speaker cannot patch nodes", user: speaker, verb: "patch", resource: "nodes"},
		{name: "speaker cannot write pool status", user: speaker, verb: "patch", group: "metallb.io", resource: "ipaddresspools", sub: "status", in: ns},
		{name: "speaker cannot use leases", user: speaker, verb: "create", group: "coordination.k8s.io", resource: "leases", in: ns},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sar := &authv1.SubjectAccessReview{Spec: authv1.SubjectAccessReviewSpec{
				User: tt.user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
				ResourceAttributes: &authv1.ResourceAttributes{Namespace: tt.in, Verb: tt.verb, Group: tt.group,
					Resource: tt.resource, Subresource: tt.sub, Name: tt.resourceName},
			}}
			got, err := client.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got.Status.Allowed != tt.allowed {
				t.Errorf("allowed = %v, want %v (%s)", got.Status.Allowed, tt.allowed, got.Status.Reason)
			}
		})
	}
}

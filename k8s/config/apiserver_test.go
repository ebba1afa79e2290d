package config

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/lbkit/lbkit/internal/kubetest"
	"github.com/lbkit/lbkit/k8s/api/v1beta1"
	"github.com/lbkit/lbkit/k8s/api/v1beta2"
	"github.com/lbkit/lbkit/k8s/crds"
)

var resources = map[string]schema.GroupVersionResource{
	"IPAddressPool":    v1beta1.IPAddressPoolsResource,
	"L2Advertisement":  v1beta1.L2AdvertisementsResource,
	"BGPAdvertisement": v1beta1.BGPAdvertisementsResource,
	"BFDProfile":       v1beta1.BFDProfilesResource,
	"Community":        v1beta1.CommunitiesResource,
	"BGPPeer":          v1beta2.BGPPeersResource,
}

func unstructuredYAML(t *testing.T, data []byte) *unstructured.Unstructured {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}

// normalize round-trips v through JSON so numbers compare alike.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// subset reports whether every field of want is in got with the same value.
func subset(want, got any) bool {
	wm, ok := want.(map[string]any)
	if !ok {
		return reflect.DeepEqual(want, got)
	}
	gm, ok := got.(map[string]any)
	if !ok {
		return false
	}
	for k, v := range wm {
		if !subset(v, gm[k]) {
			return false
		}
	}
	return true
}

// apply creates obj or replaces the object of the same name.
func apply(ctx context.Context, ri dynamic.ResourceInterface, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	got, err := ri.Create(ctx, obj, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return got, err
	}
	cur, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	obj = obj.DeepCopy()
	obj.SetResourceVersion(cur.GetResourceVersion())
	return ri.Update(ctx, obj, metav1.UpdateOptions{})
}

// TestAPIServer installs the CRDs into a real kube-apiserver, applies the
// seeds' examples unchanged, translates what it reads back, and checks that
// the CRDs' OpenAPI and CEL rules reject invalid objects.
func TestAPIServer(t *testing.T) {
	env := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dyn, err := dynamic.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := crds.Install(ctx, dyn); err != nil {
		t.Fatal(err)
	}
	t.Logf("CRDs installed and established in %s", time.Since(start).Round(time.Millisecond))
	if err := crds.Install(ctx, dyn); err != nil { // idempotent
		t.Fatalf("second Install: %v", err)
	}
	ns := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "metallb-system"},
	}}
	if _, err := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("seeds apply unchanged", func(t *testing.T) {
		files, _ := filepath.Glob("testdata/seeds/*.yaml")
		sort.Strings(files)
		if len(files) != 14 {
			t.Fatalf("%d seed examples, want 14", len(files))
		}
		for _, f := range append(files, "testdata/pools.yaml") {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, doc := range strings.Split(string(data), "\n---\n") {
				obj := unstructuredYAML(t, []byte(doc))
				gvr, known := resources[obj.GetKind()]
				if !known {
					t.Fatalf("%s: unexpected kind %s", f, obj.GetKind())
				}
				if obj.GetAPIVersion() != gvr.GroupVersion().String() {
					gvr.Version = strings.TrimPrefix(obj.GetAPIVersion(), "metallb.io/")
				}
				got, err := apply(ctx, dyn.Resource(gvr).Namespace(obj.GetNamespace()), obj)
				if err != nil {
					t.Fatalf("%s: %v", f, err)
				}
				want := normalize(t, obj.Object["spec"])
				if want != nil && !subset(want, normalize(t, got.Object["spec"])) {
					t.Errorf("%s: stored spec %v does not contain %v", f, got.Object["spec"], want)
				}
			}
		}
	})

	t.Run("defaults", func(t *testing.T) {
		pool, err := dyn.Resource(v1beta1.IPAddressPoolsResource).Namespace("metallb-system").Get(ctx, "example", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if v, _, _ := unstructured.NestedBool(pool.Object, "spec", "autoAssign"); !v {
			t.Errorf("IPAddressPool spec.autoAssign not defaulted to true: %v", pool.Object["spec"])
		}
		// "empty" has no spec, so no defaults apply inside it (Translate
		// supplies them); "example" has a spec.
		adv, err := dyn.Resource(v1beta1.BGPAdvertisementsResource).Namespace("metallb-system").Get(ctx, "example", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		l4, _, _ := unstructured.NestedInt64(adv.Object, "spec", "aggregationLength")
		l6, _, _ := unstructured.NestedInt64(adv.Object, "spec", "aggregationLengthV6")
		if l4 != 32 || l6 != 128 {
			t.Errorf("BGPAdvertisement aggregation lengths defaulted to %d/%d, want 32/128", l4, l6)
		}
		peer, err := dyn.Resource(v1beta2.BGPPeersResource).Namespace("metallb-system").Get(ctx, "peer", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p, _, _ := unstructured.NestedInt64(peer.Object, "spec", "peerPort"); p != 179 {
			t.Errorf("BGPPeer spec.peerPort defaulted to %d, want 179", p)
		}
	})

	t.Run("BGPPeer serves v1beta1", func(t *testing.T) {
		old := unstructuredYAML(t, []byte(`apiVersion: metallb.io/v1beta1
kind: BGPPeer
metadata: {name: legacy, namespace: metallb-system}
spec:
  myASN: 64512
  peerASN: 64512
  peerAddress: 172.30.0.4
  holdTime: 90s
  nodeSelectors:
  - matchExpressions: [{key: rack, operator: In, values: [a]}]
`))
		if _, err := dyn.Resource(v1beta1.BGPPeersResource).Namespace("metallb-system").Create(ctx, old, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create v1beta1 BGPPeer: %v", err)
		}
		got, err := dyn.Resource(v1beta2.BGPPeersResource).Namespace("metallb-system").Get(ctx, "legacy", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var p v1beta2.BGPPeer
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(got.Object, &p); err != nil {
			t.Fatal(err)
		}
		if p.APIVersion != "metallb.io/v1beta2" || p.Spec.ASN != 64512 || p.Spec.HoldTime == nil || p.Spec.HoldTime.Duration != 90*time.Second ||
			len(p.Spec.NodeSelectors) != 1 || p.Spec.NodeSelectors[0].MatchExpressions[0].Values[0] != "a" {
			t.Errorf("v1beta1 peer read as v1beta2: %+v", p)
		}
		back, err := dyn.Resource(v1beta1.BGPPeersResource).Namespace("metallb-system").Get(ctx, "peer", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("read a v1beta2 peer as v1beta1: %v", err)
		}
		if a, _, _ := unstructured.NestedString(back.Object, "spec", "peerAddress"); a != "172.30.0.3" {
			t.Errorf("v1beta2 peer read as v1beta1: %v", back.Object["spec"])
		}
		if err := dyn.Resource(v1beta2.BGPPeersResource).Namespace("metallb-system").Delete(ctx, "legacy", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("invalid objects are rejected", func(t *testing.T) {
		tests := []struct {
			name, yaml string
			wantField  string // the field the apiserver names
		}{
			{"pool without addresses", "kind: IPAddressPool\nspec: {}", "spec.addresses"},
			{"pool with a bad CIDR", "kind: IPAddressPool\nspec: {addresses: [192.168.10.0/33]}", "spec.addresses[0]"},
			{"pool with a non-address", "kind: IPAddressPool\nspec: {addresses: [10.0.0.1, banana]}", "spec.addresses[1]"},
			{"aggregationLength 0", "kind: BGPAdvertisement\nspec: {aggregationLength: 0}", "spec.aggregationLength"},
			{"aggregationLength 33", "kind: BGPAdvertisement\nspec: {aggregationLength: 33}", "spec.aggregationLength"},
			{"aggregationLengthV6 129", "kind: BGPAdvertisement\nspec: {aggregationLengthV6: 129}", "spec.aggregationLengthV6"},
			{"peer port out of range", "kind: BGPPeer\nspec: {myASN: 1, peerASN: 2, peerAddress: 10.0.0.1, peerPort: 20000}", "spec.peerPort"},
			{"peer without address", "kind: BGPPeer\nspec: {myASN: 1, peerASN: 2}", "spec.peerAddress"},
			{"peer address not an IP", "kind: BGPPeer\nspec: {myASN: 1, peerASN: 2, peerAddress: router.example}", "spec.peerAddress"},
			{"bad dynamicASN", "kind: BGPPeer\nspec: {myASN: 1, dynamicASN: sideways, peerAddress: 10.0.0.1}", "spec.dynamicASN"},
			{"peerASN and dynamicASN", "kind: BGPPeer\nspec: {myASN: 1, peerASN: 2, dynamicASN: external, peerAddress: 10.0.0.1}", "spec"},
			{"neither peerASN nor dynamicASN", "kind: BGPPeer\nspec: {myASN: 1, peerAddress: 10.0.0.1}", "spec"},
			{"connectTime not whole seconds", "kind: BGPPeer\nspec: {myASN: 1, peerASN: 2, peerAddress: 10.0.0.1, connectTime: 1500ms}", "spec.connectTime"},
			{"connectTime too long", "kind: BGPPeer\nspec: {myASN: 1, peerASN: 2, peerAddress: 10.0.0.1, connectTime: 20h}", "spec.connectTime"},
			{"IPv6 routerID", "kind: BGPPeer\nspec: {myASN: 1, peerASN: 2, peerAddress: 10.0.0.1, routerID: '2001:db8::1'}", "spec.routerID"},
			{"password and passwordSecret", "kind: BGPPeer\nspec: {myASN: 1, peerASN: 2, peerAddress: 10.0.0.1, password: x, passwordSecret: {name: s}}", "spec"},
			{"myASN out of range", "kind: BGPPeer\nspec: {myASN: 4294967296, peerASN: 2, peerAddress: 10.0.0.1}", "spec.myASN"},
			{"BFD receiveInterval too short", "kind: BFDProfile\nspec: {receiveInterval: 5}", "spec.receiveInterval"},
			{"BFD detectMultiplier too large", "kind: BFDProfile\nspec: {detectMultiplier: 256}", "spec.detectMultiplier"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				obj := unstructuredYAML(t, []byte(tt.yaml))
				gvr := resources[obj.GetKind()]
				obj.SetAPIVersion(gvr.GroupVersion().String())
				obj.SetName("invalid")
				obj.SetNamespace("metallb-system")
				_, err := dyn.Resource(gvr).Namespace("metallb-system").Create(ctx, obj, metav1.CreateOptions{})
				if !apierrors.IsInvalid(err) {
					t.Fatalf("create: %v, want Invalid", err)
				}
				if !strings.Contains(err.Error(), tt.wantField) {
					t.Errorf("error %q does not name %s", err, tt.wantField)
				}
			})
		}
	})

	t.Run("32-bit values are accepted", func(t *testing.T) {
		// Private 4-byte ASNs and localPref above 2^31 must pass the schema.
		peer := unstructuredYAML(t, []byte("apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: asn32, namespace: metallb-system}\nspec: {myASN: 4200000000, peerASN: 4294967295, peerAddress: 172.30.0.9}"))
		if _, err := dyn.Resource(v1beta2.BGPPeersResource).Namespace("metallb-system").Create(ctx, peer, metav1.CreateOptions{}); err != nil {
			t.Errorf("4-byte ASNs: %v", err)
		}
		adv := unstructuredYAML(t, []byte(bgpAdv("lp32", "{localPref: 4000000000, ipAddressPools: [example]}")))
		if _, err := dyn.Resource(v1beta1.BGPAdvertisementsResource).Namespace("metallb-system").Create(ctx, adv, metav1.CreateOptions{}); err != nil {
			t.Errorf("localPref 4000000000: %v", err)
		}
		for _, del := range []struct {
			gvr  schema.GroupVersionResource
			name string
		}{{v1beta2.BGPPeersResource, "asn32"}, {v1beta1.BGPAdvertisementsResource, "lp32"}} {
			_ = dyn.Resource(del.gvr).Namespace("metallb-system").Delete(ctx, del.name, metav1.DeleteOptions{})
		}
	})

	t.Run("ServiceL2Status node is immutable", func(t *testing.T) {
		ri := dyn.Resource(v1beta1.ServiceL2StatusesResource).Namespace("metallb-system")
		obj := unstructuredYAML(t, []byte("apiVersion: metallb.io/v1beta1\nkind: ServiceL2Status\nmetadata: {name: l2-web, namespace: metallb-system}"))
		cur, err := ri.Create(ctx, obj, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Object["status"] = map[string]any{"node": "n1", "serviceName": "web", "serviceNamespace": "shop", "interfaces": []any{map[string]any{"name": "eth0"}}}
		if cur, err = ri.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("set status: %v", err)
		}
		if err := unstructured.SetNestedField(cur.Object, "n2", "status", "node"); err != nil {
			t.Fatal(err)
		}
		if _, err := ri.UpdateStatus(ctx, cur, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "Value is immutable") {
			t.Errorf("moving the status to another node: %v, want Invalid (immutable)", err)
		}
		if err := ri.Delete(ctx, "l2-web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("enableGracefulRestart is immutable", func(t *testing.T) {
		ri := dyn.Resource(v1beta2.BGPPeersResource).Namespace("metallb-system")
		obj := unstructuredYAML(t, []byte("apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata: {name: gr, namespace: metallb-system}\nspec: {myASN: 64512, peerASN: 64512, peerAddress: 172.30.0.3, enableGracefulRestart: false}"))
		cur, err := ri.Create(ctx, obj, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := unstructured.SetNestedField(cur.Object, true, "spec", "enableGracefulRestart"); err != nil {
			t.Fatal(err)
		}
		if _, err := ri.Update(ctx, cur, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "EnableGracefulRestart cannot be changed") {
			t.Errorf("update: %v, want the immutability error", err)
		}
		if err := ri.Delete(ctx, "gr", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("translate what the apiserver holds", func(t *testing.T) {
		// An object the CRD accepts but the configuration rejects: it must
		// be reported and must not take anything else down.
		overlap := unstructuredYAML(t, []byte(pool("zz-overlap", "192.168.10.128/25")))
		if _, err := dyn.Resource(v1beta1.IPAddressPoolsResource).Namespace("metallb-system").Create(ctx, overlap, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		r, err := List(ctx, dyn, "metallb-system")
		if err != nil {
			t.Fatal(err)
		}
		cfg, errs := Translate(r)
		checkErrs(t, errs, []string{
			"BGPAdvertisement example spec.ipAddressPools[0] not found",
			"BGPAdvertisement example spec.peers[0] not found",
			"BGPAdvertisement example spec.peers[1] not found",
			"IPAddressPool zz-overlap spec.addresses conflict",
		})
		var pools []string
		for _, p := range cfg.Pools {
			pools = append(pools, p.Name)
		}
		if want := []string{"example", "first-pool", "ippool-ns-service-alloc-sample", "third-pool"}; !reflect.DeepEqual(pools, want) {
			t.Errorf("pools %v, want %v", pools, want)
		}
		// The last applied variant of the sample pool is the seeds' fourth example.
		for _, p := range cfg.Pools {
			if p.Name == "ippool-ns-service-alloc-sample" && (!p.AvoidBuggyIPs || p.Allocation == nil || p.Allocation.Priority != 50 || len(p.Allocation.ServiceSelectors) != 1) {
				t.Errorf("sample pool %+v", p)
			}
		}
		if len(cfg.L2) != 2 || len(cfg.BGP) != 2 || len(cfg.Peers) != 2 {
			t.Errorf("L2 %d, BGP %d, peers %d; want 2, 2, 2:\n%+v", len(cfg.L2), len(cfg.BGP), len(cfg.Peers), cfg)
		}
		if got := cfg.PeersFor(map[string]string{"rack": "frontend"}); len(got) != 2 {
			t.Errorf("a frontend node holds %d sessions, want 2", len(got))
		}
		if got := cfg.PeersFor(nil); len(got) != 1 || got[0].Port != 179 {
			t.Errorf("an unlabelled node holds %+v, want only peer on port 179", got)
		}
	})

	t.Run("password from a Secret", func(t *testing.T) {
		sec := unstructuredYAML(t, []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: bgp-auth, namespace: metallb-system}\ntype: kubernetes.io/basic-auth\nstringData: {password: hunter2}"))
		if _, err := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}).Namespace("metallb-system").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		peer := unstructuredYAML(t, []byte(peerYAML("secured", "{myASN: 64512, peerASN: 64512, peerAddress: 172.30.0.7, passwordSecret: {name: bgp-auth}}")))
		if _, err := dyn.Resource(v1beta2.BGPPeersResource).Namespace("metallb-system").Create(ctx, peer, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		r, err := List(ctx, dyn, "metallb-system")
		if err != nil {
			t.Fatal(err)
		}
		cfg, _ := Translate(r)
		for _, p := range cfg.Peers {
			if p.Peer.Name == "secured" {
				if p.Peer.Password != "hunter2" {
					t.Errorf("password %q, want hunter2", p.Peer.Password)
				}
				return
			}
		}
		t.Errorf("peer secured missing from %+v", cfg.Peers)
	})
}

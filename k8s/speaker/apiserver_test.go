package speaker

import (
	"context"
	"log/slog"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/lbkit/lbkit/internal/kubetest"
	"github.com/lbkit/lbkit/k8s/api/v1beta1"
	"github.com/lbkit/lbkit/k8s/config"
	"github.com/lbkit/lbkit/k8s/crds"
	"github.com/lbkit/lbkit/k8s/source"
)

// TestServiceL2StatusAgainstAPIServer runs a speaker against a real
// kube-apiserver: it writes a ServiceL2Status naming its node and
// interfaces for the service it announces, and deletes it when the
// service goes away.
func TestServiceL2StatusAgainstAPIServer(t *testing.T) {
	env := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client := kubernetes.NewForConfigOrDie(env.Config)
	dyn := dynamic.NewForConfigOrDie(env.Config)
	if err := crds.Install(ctx, dyn); err != nil {
		// The speaker needs only the status CRDs; do not fail on another one.
		t.Logf("crds.Install: %v; installing the status CRDs alone", err)
		installStatusCRDs(ctx, t, dyn)
	}
	_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "metallb-system"}}, metav1.CreateOptions{})
	must(t, err)
	_, err = client.CoreV1().Nodes().Create(ctx, node("node-a", nil), metav1.CreateOptions{})
	must(t, err)
	svc := lbService("web", "blue")
	svc.Spec.Ports = []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP}}
	svc, err = client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	must(t, err)
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.10"}}
	_, err = client.CoreV1().Services("default").UpdateStatus(ctx, svc, metav1.UpdateOptions{})
	must(t, err)
	_, err = client.DiscoveryV1().EndpointSlices("default").Create(ctx, slice("web", endpoint{"node-a", true}), metav1.CreateOptions{})
	must(t, err)

	l2 := newFakeAnnouncer()
	s, err := New(Config{Client: client, Dynamic: dyn, Namespace: "metallb-system", NodeName: "node-a",
		L2: l2, Liveness: &fakeLiveness{alive: []string{"node-a"}}, Logger: slog.New(slog.NewTextHandler(testLog{t}, nil))})
	must(t, err)
	res := config.Resources{Pools: []v1beta1.IPAddressPool{ipPool("blue", "192.0.2.0/24")},
		L2Advertisements: []v1beta1.L2Advertisement{l2Ad("eth", nil, nil, "eth0", "eth1")}}
	cfg, errs := config.Translate(res)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	s.ApplyConfig(ctx, source.Snapshot{Config: cfg, Resources: res})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	defer func() {
		stop()
		<-done
	}()

	statuses := dyn.Resource(v1beta1.ServiceL2StatusesResource).Namespace("metallb-system")
	name := StatusName("l2-", "node-a", "default/web")
	var got v1beta1.ServiceL2Status
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		u, err := statuses.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		got = v1beta1.ServiceL2Status{}
		if err := fromUnstructured(u.Object, &got); err != nil {
			return false, err
		}
		return got.Status.Node != "", nil
	})
	if err != nil {
		t.Fatalf("ServiceL2Status %s not written: %v", name, err)
	}
	want := v1beta1.MetalLBServiceL2Status{Node: "node-a", ServiceName: "web", ServiceNamespace: "default",
		Interfaces: []v1beta1.InterfaceInfo{{Name: "eth0"}, {Name: "eth1"}}}
	if got.Status.Node != want.Node || got.Status.ServiceName != want.ServiceName || got.Status.ServiceNamespace != want.ServiceNamespace ||
		len(got.Status.Interfaces) != 2 || got.Status.Interfaces[0] != want.Interfaces[0] || got.Status.Interfaces[1] != want.Interfaces[1] {
		t.Errorf("status = %+v, want %+v", got.Status, want)
	}
	if l := got.Labels; l[LabelNode] != "node-a" || l[LabelServiceName] != "web" || l[LabelServiceNamespace] != "default" {
		t.Errorf("labels = %v", l)
	}

	must(t, client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}))
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		list, err := statuses.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		return len(list.Items) == 0, nil
	})
	if err != nil {
		t.Fatalf("ServiceL2Status not removed after the service was deleted: %v", err)
	}
	if _, ok := l2.get("default/web"); ok {
		t.Error("still announced after the service was deleted")
	}
}

func installStatusCRDs(ctx context.Context, t *testing.T, dyn dynamic.Interface) {
	t.Helper()
	objs, err := crds.Objects()
	must(t, err)
	for _, o := range objs {
		if n := o.GetName(); n != "servicel2statuses.metallb.io" && n != "servicebgpstatuses.metallb.io" {
			continue
		}
		if _, err := dyn.Resource(crds.Resource).Create(ctx, o, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			cur, err := dyn.Resource(crds.Resource).Get(ctx, o.GetName(), metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			conds, _, _ := unstructured.NestedSlice(cur.Object, "status", "conditions")
			for _, c := range conds {
				if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		must(t, err)
	}
}

// testLog sends log lines to t.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

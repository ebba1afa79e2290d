package controller_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/lbkit/lbkit/internal/kubetest"
	"github.com/lbkit/lbkit/k8s/controller"
	"github.com/lbkit/lbkit/k8s/crds"
	"github.com/lbkit/lbkit/k8s/source"
)

const configNS = "metallb-system"

// cluster is a real kube-apiserver with the metallb.io CRDs installed.
type cluster struct {
	t      *testing.T
	client kubernetes.Interface
	dyn    dynamic.Interface
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a real kube-apiserver; skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	env, err := kubetest.Run(ctx, kubetest.Options{
		// Dual-stack cluster IPs, so RequireDualStack Services are accepted.
		APIServerFlags: []string{"--service-cluster-ip-range=10.96.0.0/16,fd00:10:96::/108"},
	})
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	t.Cleanup(func() { env.Stop() })
	c := &cluster{t: t, client: kubernetes.NewForConfigOrDie(env.Config), dyn: dynamic.NewForConfigOrDie(env.Config)}
	if err := crds.Install(ctx, c.dyn); err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{configNS, "team-a"} {
		_, err := c.client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
			Labels: map[string]string{"team": ns}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// apply creates or replaces the objects of a YAML text.
func (c *cluster) apply(ctx context.Context, text string) error {
	for _, doc := range strings.Split(text, "\n---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return err
		}
		obj := &unstructured.Unstructured{Object: m}
		gvr := source.IPAddressPools
		switch obj.GetKind() {
		case "L2Advertisement":
			gvr = source.L2Advertisements
		case "BGPAdvertisement":
			gvr = source.BGPAdvertisements
		}
		res := c.dyn.Resource(gvr).Namespace(obj.GetNamespace())
		cur, err := res.Get(ctx, obj.GetName(), metav1.GetOptions{})
		if err == nil {
			obj.SetResourceVersion(cur.GetResourceVersion())
			_, err = res.Update(ctx, obj, metav1.UpdateOptions{})
		} else if apierrors.IsNotFound(err) {
			_, err = res.Create(ctx, obj, metav1.CreateOptions{})
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// runController starts a source and a controller with a fresh allocator;
// the returned stop waits for both to exit.
func (c *cluster) runController(t *testing.T, class string) (*controller.Controller, func()) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctrl, err := controller.New(controller.Config{Client: c.client, Dynamic: c.dyn, Namespace: configNS, LoadBalancerClass: class, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	src, err := source.New(source.Config{Dynamic: c.dyn, Client: c.client, Namespace: configNS, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); src.Run(ctx, func(s source.Snapshot) { ctrl.ApplyConfig(ctx, s) }) }()
	go func() { defer wg.Done(); ctrl.Run(ctx) }()
	return ctrl, func() { cancel(); wg.Wait() }
}

func lb(name string, mods ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: 80}}},
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

func annotate(kv ...string) func(*corev1.Service) {
	return func(s *corev1.Service) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			s.Annotations[kv[i]] = kv[i+1]
		}
	}
}

// waitIngress polls until the service's status has want (nil: any
// non-empty ingress) or the timeout passes, and returns what it saw.
func (c *cluster) waitIngress(ctx context.Context, ns, name string, want []string, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	var got []string
	for time.Now().Before(deadline) {
		svc, err := c.client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			got = got[:0]
			for _, in := range svc.Status.LoadBalancer.Ingress {
				got = append(got, in.IP)
			}
			if (want == nil && len(got) > 0) || (want != nil && slices.Equal(got, want)) {
				return got
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return got
}

const pools = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: default
  namespace: metallb-system
spec:
  addresses:
  - 192.0.2.0/24
  - 2001:db8:1::/64
  avoidBuggyIPs: true
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: team-a
  namespace: metallb-system
spec:
  addresses:
  - 198.51.100.10-198.51.100.20
  serviceAllocation:
    priority: 10
    namespaces:
    - team-a
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: manual
  namespace: metallb-system
spec:
  addresses:
  - 203.0.113.0/28
  autoAssign: false`

func TestControllerAgainstAPIServer(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := c.apply(ctx, pools); err != nil {
		t.Fatal(err)
	}
	_, stop := c.runController(t, "")
	defer stop()

	other := "example.com/other"
	dual := corev1.IPFamilyPolicyRequireDualStack
	cases := []struct {
		name string
		ns   string
		svc  *corev1.Service
		want []string
	}{
		{"first-free", "default", lb("web"), []string{"192.0.2.1"}},
		{"specific", "default", lb("pinned-ip", annotate("metallb.io/loadBalancerIPs", "192.0.2.77")), []string{"192.0.2.77"}},
		{"pinned-pool", "default", lb("pinned-pool", annotate("metallb.universe.tf/address-pool", "manual")), []string{"203.0.113.0"}},
		{"namespace-priority", "team-a", lb("team"), []string{"198.51.100.10"}},
		{"share-a", "default", lb("share-a", annotate("metallb.io/allow-shared-ip", "k", "metallb.io/loadBalancerIPs", "192.0.2.50")), []string{"192.0.2.50"}},
		{"share-b", "default", lb("share-b", annotate("metallb.io/allow-shared-ip", "k", "metallb.io/loadBalancerIPs", "192.0.2.50"),
			func(s *corev1.Service) { s.Spec.Ports[0].Port = 443 }), []string{"192.0.2.50"}},
		{"dual-stack", "default", lb("dual", func(s *corev1.Service) {
			s.Spec.IPFamilyPolicy = &dual
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
		}), []string{"192.0.2.2", "2001:db8:1::"}},
	}
	for _, tc := range cases {
		tc.svc.Namespace = tc.ns
		if _, err := c.client.CoreV1().Services(tc.ns).Create(ctx, tc.svc, metav1.CreateOptions{}); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := c.waitIngress(ctx, tc.ns, tc.svc.Name, tc.want, 20*time.Second); !slices.Equal(got, tc.want) {
			t.Fatalf("%s: ingress %v, want %v", tc.name, got, tc.want)
		}
	}
	svc, _ := c.client.CoreV1().Services("default").Get(ctx, "pinned-pool", metav1.GetOptions{})
	if svc.Annotations["metallb.io/ip-allocated-from-pool"] != "manual" {
		t.Fatalf("pool annotation = %q", svc.Annotations["metallb.io/ip-allocated-from-pool"])
	}

	// Pool status counts exactly, even for a /64: the dual-stack service
	// holds one of its 2^64 IPv6 addresses.
	waitPoolStatus(t, c, "default", "18446744073709551615")

	// Another class is left alone.
	if _, err := c.client.CoreV1().Services("default").Create(ctx, lb("classy", func(s *corev1.Service) { s.Spec.LoadBalancerClass = &other }), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := c.waitIngress(ctx, "default", "classy", nil, time.Second); len(got) != 0 {
		t.Fatalf("a service of another class got %v", got)
	}

	// A sharing conflict (same port) is refused with an event.
	if _, err := c.client.CoreV1().Services("default").Create(ctx, lb("share-c", annotate("metallb.io/allow-shared-ip", "k", "metallb.io/loadBalancerIPs", "192.0.2.50")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, c, "share-c", "AllocationFailed")

	// An overlapping pool is rejected: ConfigurationState says so, the
	// last good configuration stays, and nothing moves.
	bad := strings.Replace(strings.Split(pools, "\n---\n")[2], "name: manual", "name: overlap", 1)
	bad = strings.Replace(bad, "203.0.113.0/28", "192.0.2.128/25", 1)
	if err := c.apply(ctx, bad); err != nil {
		t.Fatal(err)
	}
	waitConfigState(t, c, "Invalid", "overlap")
	if _, err := c.client.CoreV1().Services("default").Create(ctx, lb("after-bad"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := c.waitIngress(ctx, "default", "after-bad", nil, 20*time.Second); len(got) != 1 || !strings.HasPrefix(got[0], "192.0.2.") {
		t.Fatalf("after a bad pool, a new service got %v", got)
	}
	if got := c.waitIngress(ctx, "default", "web", []string{"192.0.2.1"}, time.Second); !slices.Equal(got, []string{"192.0.2.1"}) {
		t.Fatalf("web moved to %v", got)
	}

	// Deleting a service frees its address for the next one.
	if err := c.client.CoreV1().Services("default").Delete(ctx, "pinned-pool", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.client.CoreV1().Services("default").Create(ctx, lb("reuse", annotate("metallb.io/address-pool", "manual")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := c.waitIngress(ctx, "default", "reuse", []string{"203.0.113.0"}, 20*time.Second); !slices.Equal(got, []string{"203.0.113.0"}) {
		t.Fatalf("reuse got %v, want the freed 203.0.113.0", got)
	}
}

func ipv6(s *corev1.Service) { s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol} }

func waitEvent(t *testing.T, c *cluster, object, reason string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		evs, err := c.client.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
		if err == nil {
			for _, e := range evs.Items {
				if e.InvolvedObject.Name == object && e.Reason == reason {
					return
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %s event on %s", reason, object)
}

func waitPoolStatus(t *testing.T, c *cluster, pool, availableV6 string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last map[string]any
	for time.Now().Before(deadline) {
		obj, err := c.dyn.Resource(source.IPAddressPools).Namespace(configNS).Get(context.Background(), pool, metav1.GetOptions{})
		if err == nil {
			last, _, _ = unstructured.NestedMap(obj.Object, "status")
			exact, _, _ := unstructured.NestedString(obj.Object, "status", "availableIPv6Exact")
			v6, _, _ := unstructured.NestedInt64(obj.Object, "status", "assignedIPv6")
			if exact == availableV6 && v6 == 1 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("pool %s status never showed availableIPv6Exact=%s, assignedIPv6=1; last %v", pool, availableV6, last)
}

func waitConfigState(t *testing.T, c *cluster, result, mention string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		obj, err := c.dyn.Resource(controller.ConfigurationStates).Namespace(configNS).Get(context.Background(), "controller", metav1.GetOptions{})
		if err == nil {
			r, _, _ := unstructured.NestedString(obj.Object, "status", "result")
			s, _, _ := unstructured.NestedString(obj.Object, "status", "errorSummary")
			last = r + ": " + s
			if r == result && strings.Contains(s, mention) {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("ConfigurationState never became %s mentioning %q; last %q", result, mention, last)
}

// TestRestartChangesNoAddress: 1,000 services get addresses; a new
// controller (empty allocator) restores them all before allocating, so no
// address changes and a new service gets a fresh one.
func TestRestartChangesNoAddress(t *testing.T) {
	c := startCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// One pool of 1,024 addresses that 1,001 IPv6 services nearly fill, so
	// a controller that allocated before restoring would hand out a held
	// address.
	if err := c.apply(ctx, `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: small
  namespace: metallb-system
spec:
  addresses:
  - 2001:db8:1::/118`); err != nil {
		t.Fatal(err)
	}
	const n = 1000
	_, stop := c.runController(t, "")
	before := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errc := make(chan error, n)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 8 {
				_, err := c.client.CoreV1().Services("default").Create(ctx, lb(fmt.Sprintf("svc-%04d", i), ipv6), metav1.CreateOptions{})
				if err != nil {
					errc <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	collect := func(into map[string]string) int {
		list, err := c.client.CoreV1().Services("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := 0
		for _, s := range list.Items {
			if len(s.Status.LoadBalancer.Ingress) == 1 {
				mu.Lock()
				into[s.Name] = s.Status.LoadBalancer.Ingress[0].IP
				mu.Unlock()
				got++
			}
		}
		return got
	}
	deadline := time.Now().Add(3 * time.Minute)
	for collect(before) < n && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if len(before) != n {
		t.Fatalf("%d of %d services got an address", len(before), n)
	}
	stop()

	// Restart: a new controller, a new allocator, and a service created
	// while it was down.
	if _, err := c.client.CoreV1().Services("default").Create(ctx, lb("newcomer", ipv6), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctrl, stop2 := c.runController(t, "")
	defer stop2()
	got := c.waitIngress(ctx, "default", "newcomer", nil, time.Minute)
	if len(got) != 1 {
		t.Fatalf("newcomer got %v", got)
	}
	for name, ip := range before {
		if ip == got[0] {
			t.Fatalf("newcomer got %s, held by %s before the restart", ip, name)
		}
	}
	<-ctrl.Restored()
	after := map[string]string{}
	collect(after)
	changed := 0
	for name, ip := range before {
		if after[name] != ip {
			changed++
			if changed < 5 {
				t.Errorf("%s: %s before the restart, %s after", name, ip, after[name])
			}
		}
	}
	if changed > 0 {
		t.Fatalf("%d of %d addresses changed across a restart", changed, n)
	}
	if held := len(ctrl.Allocator().Assignments()); held != n+1 {
		t.Fatalf("allocator holds %d assignments, want %d", held, n+1)
	}
}

package controller

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"go4.org/netipx"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"

	"github.com/lbkit/lbkit/allocator"
)

// harness is a controller over a fake clientset whose informer caches the
// test fills by hand; sync is called directly, as in sample-controller.
type harness struct {
	t      *testing.T
	c      *Controller
	client *fake.Clientset
	events *record.FakeRecorder
}

func newHarness(t *testing.T, class string, pools ...allocator.Pool) *harness {
	t.Helper()
	client := fake.NewClientset()
	events := record.NewFakeRecorder(100)
	c, err := New(Config{Client: client, Recorder: events, LoadBalancerClass: class, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ApplyPools(pools); err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, c: c, client: client, events: events}
}

func pool(name string, ranges ...string) allocator.Pool {
	rs, err := allocator.ParsePoolAddresses(ranges)
	if err != nil {
		panic(err)
	}
	return allocator.Pool{Name: name, Addresses: rs, AutoAssign: true}
}

func lbService(name string, mods ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{
			Type:  corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromInt(8080)}},
		},
	}
	for _, m := range mods {
		m(s)
	}
	return s
}

// put stores svc in the fake API and in the informer cache.
func (h *harness) put(svc *corev1.Service) {
	h.t.Helper()
	ctx := context.Background()
	if _, err := h.client.CoreV1().Services(svc.Namespace).Get(ctx, svc.Name, metav1.GetOptions{}); err == nil {
		if _, err := h.client.CoreV1().Services(svc.Namespace).Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
			h.t.Fatal(err)
		}
	} else if _, err := h.client.CoreV1().Services(svc.Namespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		h.t.Fatal(err)
	}
	h.refresh(svc.Namespace, svc.Name)
}

// refresh copies the API's version of a service into the cache.
func (h *harness) refresh(ns, name string) *corev1.Service {
	h.t.Helper()
	svc, err := h.client.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.c.factory.Core().V1().Services().Informer().GetIndexer().Update(svc); err != nil {
		h.t.Fatal(err)
	}
	return svc
}

func (h *harness) sync(name string) *corev1.Service {
	h.t.Helper()
	if err := h.c.sync(context.Background(), "default/"+name); err != nil {
		h.t.Fatalf("sync %s: %v", name, err)
	}
	return h.refresh("default", name)
}

func (h *harness) event(want string) {
	h.t.Helper()
	for {
		select {
		case e := <-h.events.Events:
			if strings.Contains(e, want) {
				return
			}
		default:
			h.t.Fatalf("no event containing %q", want)
		}
	}
}

func ips(svc *corev1.Service) []string {
	var out []string
	for _, in := range svc.Status.LoadBalancer.Ingress {
		out = append(out, in.IP)
	}
	return out
}

func TestSyncAllocates(t *testing.T) {
	h := newHarness(t, "", pool("blue", "192.0.2.10-192.0.2.11"))
	h.put(lbService("web"))
	svc := h.sync("web")
	if got := ips(svc); !slices.Equal(got, []string{"192.0.2.10"}) {
		t.Fatalf("ingress = %v, want [192.0.2.10]", got)
	}
	if svc.Annotations[AnnotationPool] != "blue" || svc.Annotations[AnnotationPoolLegacy] != "blue" {
		t.Fatalf("pool annotations = %v", svc.Annotations)
	}
	h.event("IPAllocated")
	// Syncing again changes nothing and raises no event.
	h.sync("web")
	select {
	case e := <-h.events.Events:
		t.Fatalf("unexpected event on a no-op sync: %s", e)
	default:
	}
}

func TestSyncRequests(t *testing.T) {
	class := "other"
	tests := []struct {
		name   string
		svc    *corev1.Service
		want   []string
		event  string
		noSync bool
	}{
		{name: "specific address by annotation", svc: lbService("a", func(s *corev1.Service) {
			s.Annotations = map[string]string{"metallb.io/loadBalancerIPs": "192.0.2.12"}
		}), want: []string{"192.0.2.12"}, event: "IPAllocated"},
		{name: "legacy prefix", svc: lbService("b", func(s *corev1.Service) {
			s.Annotations = map[string]string{"metallb.universe.tf/loadBalancerIPs": "192.0.2.13"}
		}), want: []string{"192.0.2.13"}, event: "IPAllocated"},
		{name: "spec.loadBalancerIP", svc: lbService("c", func(s *corev1.Service) {
			s.Spec.LoadBalancerIP = "192.0.2.14"
		}), want: []string{"192.0.2.14"}, event: "IPAllocated"},
		{name: "pinned pool", svc: lbService("d", func(s *corev1.Service) {
			s.Annotations = map[string]string{"metallb.universe.tf/address-pool": "green"}
		}), want: []string{"198.51.100.1"}, event: "IPAllocated"},
		{name: "bad address annotation", svc: lbService("e", func(s *corev1.Service) {
			s.Annotations = map[string]string{"metallb.io/loadBalancerIPs": "192.0.2.300"}
		}), event: "is not an IP address"},
		{name: "prefixes disagree", svc: lbService("f", func(s *corev1.Service) {
			s.Annotations = map[string]string{"metallb.io/address-pool": "blue", "metallb.universe.tf/address-pool": "green"}
		}), event: "disagree"},
		{name: "unknown pool", svc: lbService("g", func(s *corev1.Service) {
			s.Annotations = map[string]string{"metallb.io/address-pool": "nope"}
		}), event: "AllocationFailed"},
		{name: "address in no pool", svc: lbService("h", func(s *corev1.Service) {
			s.Annotations = map[string]string{"metallb.io/loadBalancerIPs": "203.0.113.99"}
		}), event: "AllocationFailed"},
		{name: "other class ignored", svc: lbService("i", func(s *corev1.Service) {
			s.Spec.LoadBalancerClass = &class
		}), noSync: true},
		{name: "dual-stack", svc: lbService("j", func(s *corev1.Service) {
			p := corev1.IPFamilyPolicyRequireDualStack
			s.Spec.IPFamilyPolicy = &p
			s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
			s.Annotations = map[string]string{"metallb.io/address-pool": "dual"}
		}), want: []string{"2001:db8::1", "203.0.113.1"}, event: "IPAllocated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, "",
				pool("blue", "192.0.2.10-192.0.2.20"),
				pool("green", "198.51.100.1/32"),
				pool("dual", "203.0.113.1/32", "2001:db8::1/128"))
			h.put(tt.svc)
			svc := h.sync(tt.svc.Name)
			if got := ips(svc); !slices.Equal(got, tt.want) {
				t.Fatalf("ingress = %v, want %v", got, tt.want)
			}
			if tt.noSync {
				if len(h.events.Events) != 0 {
					t.Fatalf("events for an ignored service: %d", len(h.events.Events))
				}
				return
			}
			h.event(tt.event)
		})
	}
}

func TestRestoreKeepsAddresses(t *testing.T) {
	h := newHarness(t, "", pool("blue", "192.0.2.10-192.0.2.12"))
	// Two services already hold .12 and .11 (in status) when the controller starts.
	for name, ip := range map[string]string{"old1": "192.0.2.12", "old2": "192.0.2.11"} {
		s := lbService(name)
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: ip}}
		h.put(s)
		if _, err := h.client.CoreV1().Services("default").UpdateStatus(context.Background(), s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		h.refresh("default", name)
	}
	h.put(lbService("new"))
	h.c.restore(context.Background())
	// The new service may only get the one free address, whatever order
	// the syncs come in.
	if got := ips(h.sync("new")); !slices.Equal(got, []string{"192.0.2.10"}) {
		t.Fatalf("new service got %v, want [192.0.2.10]", got)
	}
	for name, ip := range map[string]string{"old1": "192.0.2.12", "old2": "192.0.2.11"} {
		if got := ips(h.sync(name)); !slices.Equal(got, []string{ip}) {
			t.Fatalf("%s moved: %v, want [%s]", name, got, ip)
		}
	}
}

func TestExhaustedThenFreed(t *testing.T) {
	h := newHarness(t, "", pool("tiny", "192.0.2.10/32"))
	h.put(lbService("first"))
	h.put(lbService("second"))
	h.sync("first")
	if got := ips(h.sync("second")); len(got) != 0 {
		t.Fatalf("second got %v from an exhausted pool", got)
	}
	h.event("AllocationFailed")
	// first stops being a LoadBalancer: its address is released and its
	// status cleared; second is queued again and gets the address.
	first := h.refresh("default", "first")
	first.Spec.Type = corev1.ServiceTypeClusterIP
	h.put(first)
	if got := ips(h.sync("first")); len(got) != 0 {
		t.Fatalf("first keeps %v after leaving LoadBalancer", got)
	}
	if h.c.queue.Len() == 0 {
		t.Fatal("the waiting service was not queued again")
	}
	if got := ips(h.sync("second")); !slices.Equal(got, []string{"192.0.2.10"}) {
		t.Fatalf("second got %v, want the freed address", got)
	}
}

func TestPoolChangeKeepsStranded(t *testing.T) {
	h := newHarness(t, "", pool("blue", "192.0.2.10/32"))
	h.put(lbService("web"))
	h.sync("web")
	rs := []netipx.IPRange{netipx.IPRangeFrom(netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2"))}
	report, err := h.c.ApplyPools([]allocator.Pool{{Name: "green", Addresses: rs, AutoAssign: true}})
	if err != nil {
		t.Fatal(err)
	}
	if len(report.Changes) != 1 || report.Changes[0].Reason != allocator.Stranded {
		t.Fatalf("report = %+v, want web stranded", report)
	}
	h.event("AddressStranded")
	if got := ips(h.sync("web")); !slices.Equal(got, []string{"192.0.2.10"}) {
		t.Fatalf("stranded service moved to %v", got)
	}
}

func TestOverlappingPoolsRejected(t *testing.T) {
	h := newHarness(t, "", pool("blue", "192.0.2.0/24"))
	if _, err := h.c.ApplyPools([]allocator.Pool{pool("a", "192.0.2.0/25"), pool("b", "192.0.2.100/32")}); err == nil {
		t.Fatal("overlapping pools accepted")
	}
	h.put(lbService("web"))
	if got := ips(h.sync("web")); len(got) != 1 || !strings.HasPrefix(got[0], "192.0.2.") {
		t.Fatalf("the old pool set is not in force: %v", got)
	}
}

package annotations

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lbkit/lbkit/allocator"
)

func svc(ann map[string]string, mutate ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", Annotations: ann, Labels: map[string]string{"app": "web"}},
		Spec: corev1.ServiceSpec{
			Type:  corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{{Port: 80}, {Port: 53, Protocol: corev1.ProtocolUDP}},
		},
	}
	for _, m := range mutate {
		m(s)
	}
	return s
}

func policy(p corev1.IPFamilyPolicy) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.IPFamilyPolicy = &p }
}

func families(f ...corev1.IPFamily) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.IPFamilies = f }
}

func lbIP(ip string) func(*corev1.Service) {
	return func(s *corev1.Service) { s.Spec.LoadBalancerIP = ip }
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

func TestRequest(t *testing.T) {
	tests := []struct {
		name      string
		svc       *corev1.Service
		want      func(*allocator.Request)
		wantField string // non-empty: an error naming this field
	}{
		{name: "plain", svc: svc(nil), want: func(*allocator.Request) {}},
		{
			name: "new prefix",
			svc: svc(map[string]string{
				"metallb.io/loadBalancerIPs": "192.0.2.10",
				"metallb.io/address-pool":    "first-pool",
				"metallb.io/allow-shared-ip": "key1",
			}),
			want: func(r *allocator.Request) {
				r.Addresses = addrs("192.0.2.10")
				r.Pool = "first-pool"
				r.SharingKey = "key1"
			},
		},
		{
			name: "legacy prefix",
			svc: svc(map[string]string{
				"metallb.universe.tf/loadBalancerIPs": " 192.0.2.10 ",
				"metallb.universe.tf/address-pool":    "first-pool",
				"metallb.universe.tf/allow-shared-ip": "key1",
			}),
			want: func(r *allocator.Request) {
				r.Addresses = addrs("192.0.2.10")
				r.Pool = "first-pool"
				r.SharingKey = "key1"
			},
		},
		{
			name: "both prefixes agree",
			svc: svc(map[string]string{
				"metallb.io/address-pool":          "p",
				"metallb.universe.tf/address-pool": "p",
			}),
			want: func(r *allocator.Request) { r.Pool = "p" },
		},
		{
			name: "both prefixes disagree",
			svc: svc(map[string]string{
				"metallb.io/address-pool":          "p",
				"metallb.universe.tf/address-pool": "q",
			}),
			wantField: "metadata.annotations[metallb.io/address-pool]",
		},
		{
			name:      "bad IP list",
			svc:       svc(map[string]string{"metallb.io/loadBalancerIPs": "192.0.2.10,banana"}),
			wantField: "metadata.annotations[metallb.io/loadBalancerIPs]",
		},
		{
			name:      "empty IP list",
			svc:       svc(map[string]string{"metallb.universe.tf/loadBalancerIPs": ""}),
			wantField: "metadata.annotations[metallb.universe.tf/loadBalancerIPs]",
		},
		{
			name:      "two IPv4",
			svc:       svc(map[string]string{"metallb.io/loadBalancerIPs": "192.0.2.10,192.0.2.11"}, policy(corev1.IPFamilyPolicyRequireDualStack)),
			wantField: "metadata.annotations[metallb.io/loadBalancerIPs]",
		},
		{
			name:      "dual-stack IPs on a single-stack service",
			svc:       svc(map[string]string{"metallb.io/loadBalancerIPs": "192.0.2.10,2001:db8::10"}),
			wantField: "metadata.annotations[metallb.io/loadBalancerIPs]",
		},
		{
			name: "dual-stack IPs",
			svc: svc(map[string]string{"metallb.io/loadBalancerIPs": "2001:db8::10, 192.0.2.10"},
				policy(corev1.IPFamilyPolicyRequireDualStack), families(corev1.IPv6Protocol, corev1.IPv4Protocol)),
			want: func(r *allocator.Request) {
				r.Addresses = addrs("2001:db8::10", "192.0.2.10")
				r.Families = allocator.FamilyPolicy{Stack: allocator.RequireDualStack, Primary: allocator.IPv6}
			},
		},
		{
			name: "prefer dual-stack without IPs",
			svc:  svc(nil, policy(corev1.IPFamilyPolicyPreferDualStack), families(corev1.IPv4Protocol)),
			want: func(r *allocator.Request) {
				r.Families = allocator.FamilyPolicy{Stack: allocator.PreferDualStack, Primary: allocator.IPv4}
			},
		},
		{
			name: "spec.loadBalancerIP",
			svc:  svc(nil, lbIP("2001:db8::5")),
			want: func(r *allocator.Request) {
				r.Addresses = addrs("2001:db8::5")
				r.Families.Primary = allocator.IPv6
			},
		},
		{
			name:      "spec.loadBalancerIP not an IP",
			svc:       svc(nil, lbIP("192.0.2.300")),
			wantField: "spec.loadBalancerIP",
		},
		{
			name: "spec.loadBalancerIP agrees with annotation",
			svc:  svc(map[string]string{"metallb.io/loadBalancerIPs": "192.0.2.10"}, lbIP("192.0.2.10")),
			want: func(r *allocator.Request) { r.Addresses = addrs("192.0.2.10") },
		},
		{
			name:      "spec.loadBalancerIP disagrees with annotation",
			svc:       svc(map[string]string{"metallb.io/loadBalancerIPs": "192.0.2.10"}, lbIP("192.0.2.11")),
			wantField: "spec.loadBalancerIP",
		},
		{
			name:      "address of the wrong family",
			svc:       svc(nil, lbIP("192.0.2.10"), families(corev1.IPv6Protocol)),
			wantField: "spec.ipFamilies",
		},
		{
			name: "IPv4-mapped address is unmapped",
			svc:  svc(map[string]string{"metallb.io/loadBalancerIPs": "::ffff:192.0.2.10"}),
			want: func(r *allocator.Request) { r.Addresses = addrs("192.0.2.10") },
		},
		{
			name: "externalTrafficPolicy Local keys the backends",
			svc: svc(nil, func(s *corev1.Service) {
				s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
				s.Spec.Selector = map[string]string{"b": "2", "a": "1"}
			}),
			want: func(r *allocator.Request) { r.BackendKey = "a=1,b=2," },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nsLabels := map[string]string{"team": "a"}
			got, err := Request(tt.svc, nsLabels)
			if tt.wantField != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || !errors.Is(err, ErrInvalidService) {
					t.Fatalf("err = %v, want a *FieldError", err)
				}
				if fe.Field != tt.wantField {
					t.Fatalf("error names %q, want %q (%v)", fe.Field, tt.wantField, err)
				}
				if !strings.Contains(err.Error(), tt.wantField) {
					t.Errorf("message %q does not name %q", err, tt.wantField)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			want := allocator.Request{
				Service:         "ns/web",
				Namespace:       "ns",
				Labels:          map[string]string{"app": "web"},
				NamespaceLabels: nsLabels,
				Ports:           []allocator.Port{{Protocol: allocator.TCP, Port: 80}, {Protocol: allocator.UDP, Port: 53}},
			}
			tt.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Request =\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func TestSetAllocatedFromPool(t *testing.T) {
	ann := SetAllocatedFromPool(nil, "pool-a")
	want := map[string]string{"metallb.io/ip-allocated-from-pool": "pool-a", "metallb.universe.tf/ip-allocated-from-pool": "pool-a"}
	if !reflect.DeepEqual(ann, want) {
		t.Fatalf("got %v, want %v", ann, want)
	}
	if p, ok := AllocatedFromPool(svc(ann)); !ok || p != "pool-a" {
		t.Fatalf("AllocatedFromPool = %q, %v", p, ok)
	}
	ann = SetAllocatedFromPool(ann, "")
	if len(ann) != 0 {
		t.Fatalf("after clearing: %v", ann)
	}
	if _, ok := AllocatedFromPool(svc(map[string]string{"metallb.universe.tf/ip-allocated-from-pool": "old"})); !ok {
		t.Fatal("legacy annotation not read")
	}
}

func FuzzParseIPs(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "192.0.2.1,2001:db8::1", "", ",", "::ffff:1.2.3.4", "fe80::1%eth0", "1.2.3.4,1.2.3.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseIPs(s)
		if err != nil {
			return
		}
		if len(got) == 0 || len(got) > 2 {
			t.Fatalf("ParseIPs(%q) = %v: want 1 or 2 addresses", s, got)
		}
		if len(got) == 2 && got[0].Is4() == got[1].Is4() {
			t.Fatalf("ParseIPs(%q) = %v: two of one family", s, got)
		}
		for _, a := range got {
			if !a.IsValid() || a.Is4In6() || a.Zone() != "" {
				t.Fatalf("ParseIPs(%q) returned %v", s, a)
			}
		}
	})
}

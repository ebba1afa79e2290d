package annotations

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/lbkit/lbkit/allocator"
)

// The two prefixes MetalLB's annotations use.
const (
	Prefix       = "metallb.io/"
	LegacyPrefix = "metallb.universe.tf/"
)

// Annotation names, without prefix.
const (
	LoadBalancerIPs     = "loadBalancerIPs"
	AddressPool         = "address-pool"
	AllowSharedIP       = "allow-shared-ip"
	IPAllocatedFromPool = "ip-allocated-from-pool"
)

// ErrInvalidService reports a Service whose fields or annotations cannot be
// turned into an allocation request. Errors wrapping it are *FieldError.
var ErrInvalidService = errors.New("invalid service")

// FieldError names the field or annotation of a Service that is wrong.
type FieldError struct {
	// Field is a field path ("spec.loadBalancerIP") or an annotation
	// ("metadata.annotations[metallb.io/loadBalancerIPs]").
	Field string
	// Value is the offending value.
	Value string
	// Reason says what is wrong with it.
	Reason string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%v: %s %q: %s", ErrInvalidService, e.Field, e.Value, e.Reason)
}

func (e *FieldError) Unwrap() error { return ErrInvalidService }

func annotationField(name string) string { return "metadata.annotations[" + name + "]" }

// Get returns the value of annotation name (without prefix) under either
// prefix, trimmed of spaces. When both prefixes are set they must agree.
func Get(annotations map[string]string, name string) (value string, ok bool, err error) {
	cur, curOK := annotations[Prefix+name]
	old, oldOK := annotations[LegacyPrefix+name]
	cur, old = strings.TrimSpace(cur), strings.TrimSpace(old)
	switch {
	case curOK && oldOK && cur != old:
		return "", false, &FieldError{
			Field:  annotationField(Prefix + name),
			Value:  cur,
			Reason: fmt.Sprintf("disagrees with %s=%q", LegacyPrefix+name, old),
		}
	case curOK:
		return cur, true, nil
	case oldOK:
		return old, true, nil
	}
	return "", false, nil
}

// field returns the annotation key that is set, for error messages.
func field(annotations map[string]string, name string) string {
	if _, ok := annotations[Prefix+name]; ok {
		return annotationField(Prefix + name)
	}
	return annotationField(LegacyPrefix + name)
}

// AllocatedFromPool returns the pool recorded on svc by the controller.
func AllocatedFromPool(svc *corev1.Service) (string, bool) {
	v, ok, err := Get(svc.Annotations, IPAllocatedFromPool)
	if err != nil || v == "" {
		return "", false
	}
	return v, ok
}

// SetAllocatedFromPool records pool on annotations under both prefixes, so
// tools that read either spelling see it, and returns the map (allocated if
// nil). An empty pool removes the annotation. Never call it on an object
// from an informer cache: copy the object first.
func SetAllocatedFromPool(annotations map[string]string, pool string) map[string]string {
	if pool == "" {
		delete(annotations, Prefix+IPAllocatedFromPool)
		delete(annotations, LegacyPrefix+IPAllocatedFromPool)
		return annotations
	}
	if annotations == nil {
		annotations = make(map[string]string, 2)
	}
	annotations[Prefix+IPAllocatedFromPool] = pool
	annotations[LegacyPrefix+IPAllocatedFromPool] = pool
	return annotations
}

// Request turns a Service into an allocator request. namespaceLabels are
// the labels of the service's namespace, for pools' namespace selectors.
// It reads spec.loadBalancerIP, the loadBalancerIPs, address-pool and
// allow-shared-ip annotations, spec.ipFamilyPolicy and spec.ipFamilies, the
// ports, and for externalTrafficPolicy Local the pod selector (only Local
// services with the same selector may share an address).
func Request(svc *corev1.Service, namespaceLabels map[string]string) (allocator.Request, error) {
	req := allocator.Request{
		Service:         svc.Namespace + "/" + svc.Name,
		Namespace:       svc.Namespace,
		Labels:          svc.Labels,
		NamespaceLabels: namespaceLabels,
	}
	var err error
	if req.Pool, _, err = Get(svc.Annotations, AddressPool); err != nil {
		return req, err
	}
	if req.SharingKey, _, err = Get(svc.Annotations, AllowSharedIP); err != nil {
		return req, err
	}
	if req.Addresses, err = requestedAddresses(svc); err != nil {
		return req, err
	}
	if req.Families, err = familyPolicy(svc, req.Addresses); err != nil {
		return req, err
	}
	for _, p := range svc.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		req.Ports = append(req.Ports, allocator.Port{Protocol: allocator.Protocol(proto), Port: uint16(p.Port)})
	}
	if svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal {
		req.BackendKey = SelectorKey(svc.Spec.Selector)
	}
	return req, nil
}

// ParseIPs parses a loadBalancerIPs value: comma-separated addresses, at
// most one per family. IPv4-mapped IPv6 addresses are unmapped.
func ParseIPs(s string) ([]netip.Addr, error) {
	var addrs []netip.Addr
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		a, err := netip.ParseAddr(part)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q is not an IP address", part)
		}
		a = a.Unmap()
		for _, b := range addrs {
			if b.Is4() == a.Is4() {
				return nil, fmt.Errorf("%s and %s are of the same family; give at most one address per family", b, a)
			}
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

func requestedAddresses(svc *corev1.Service) ([]netip.Addr, error) {
	raw, set, err := Get(svc.Annotations, LoadBalancerIPs)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if set {
		if addrs, err = ParseIPs(raw); err != nil {
			return nil, &FieldError{Field: field(svc.Annotations, LoadBalancerIPs), Value: raw, Reason: err.Error()}
		}
	}
	lb := strings.TrimSpace(svc.Spec.LoadBalancerIP)
	if lb == "" {
		return addrs, nil
	}
	a, err := netip.ParseAddr(lb)
	if err != nil || a.Zone() != "" {
		return nil, &FieldError{Field: "spec.loadBalancerIP", Value: lb, Reason: "not an IP address"}
	}
	a = a.Unmap()
	if set && !(len(addrs) == 1 && addrs[0] == a) {
		return nil, &FieldError{
			Field:  "spec.loadBalancerIP",
			Value:  lb,
			Reason: fmt.Sprintf("disagrees with %s=%q; set only one of them", field(svc.Annotations, LoadBalancerIPs), raw),
		}
	}
	return []netip.Addr{a}, nil
}

func familyPolicy(svc *corev1.Service, addrs []netip.Addr) (allocator.FamilyPolicy, error) {
	var fp allocator.FamilyPolicy
	if len(svc.Spec.IPFamilies) > 0 {
		switch f := svc.Spec.IPFamilies[0]; f {
		case corev1.IPv4Protocol:
			fp.Primary = allocator.IPv4
		case corev1.IPv6Protocol:
			fp.Primary = allocator.IPv6
		default:
			return fp, &FieldError{Field: "spec.ipFamilies[0]", Value: string(f), Reason: "unknown IP family"}
		}
	} else if len(addrs) > 0 && addrs[0].Is6() {
		fp.Primary = allocator.IPv6
	}
	if p := svc.Spec.IPFamilyPolicy; p != nil {
		switch *p {
		case corev1.IPFamilyPolicySingleStack:
		case corev1.IPFamilyPolicyPreferDualStack:
			fp.Stack = allocator.PreferDualStack
		case corev1.IPFamilyPolicyRequireDualStack:
			fp.Stack = allocator.RequireDualStack
		default:
			return fp, &FieldError{Field: "spec.ipFamilyPolicy", Value: string(*p), Reason: "unknown IP family policy"}
		}
	}
	if fp.Stack != allocator.SingleStack {
		return fp, nil
	}
	if len(addrs) > 1 {
		return fp, &FieldError{
			Field:  field(svc.Annotations, LoadBalancerIPs),
			Value:  joinAddrs(addrs),
			Reason: "two addresses for a single-stack service; set spec.ipFamilyPolicy to PreferDualStack or RequireDualStack",
		}
	}
	if len(addrs) == 1 && len(svc.Spec.IPFamilies) > 0 && addrs[0].Is6() != (fp.Primary == allocator.IPv6) {
		return fp, &FieldError{
			Field:  "spec.ipFamilies",
			Value:  string(svc.Spec.IPFamilies[0]),
			Reason: fmt.Sprintf("the requested address %s is of the other family", addrs[0]),
		}
	}
	return fp, nil
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ",")
}

// SelectorKey is a canonical form of a pod selector ("k1=v1,k2=v2,"): two
// externalTrafficPolicy Local services may share an address only when they
// select the same pods.
func SelectorKey(sel map[string]string) string {
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(sel[k])
		b.WriteByte(',')
	}
	return b.String()
}

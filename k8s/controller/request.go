package controller

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/lbkit/lbkit/allocator"
)

// The service annotations lbkit reads, each under MetalLB's old and new
// prefix; the two spellings must agree when both are set.
var (
	annotationIPs    = [2]string{"metallb.io/loadBalancerIPs", "metallb.universe.tf/loadBalancerIPs"}
	annotationPool   = [2]string{"metallb.io/address-pool", "metallb.universe.tf/address-pool"}
	annotationShared = [2]string{"metallb.io/allow-shared-ip", "metallb.universe.tf/allow-shared-ip"}
)

// ErrInvalidService reports a Service whose fields or annotations cannot be
// turned into an allocation request.
var ErrInvalidService = errors.New("invalid service")

// ServiceRequest turns a LoadBalancer Service and its namespace's labels
// into an allocator request. Errors name the field or annotation at fault.
func ServiceRequest(svc *corev1.Service, namespaceLabels map[string]string) (allocator.Request, error) {
	req := allocator.Request{
		Service:         svc.Namespace + "/" + svc.Name,
		Namespace:       svc.Namespace,
		Labels:          svc.Labels,
		NamespaceLabels: namespaceLabels,
	}
	var err error
	if req.Pool, err = annotation(svc, annotationPool); err != nil {
		return req, err
	}
	if req.SharingKey, err = annotation(svc, annotationShared); err != nil {
		return req, err
	}
	if req.Addresses, err = requestedAddresses(svc); err != nil {
		return req, err
	}
	req.Families, err = familyPolicy(svc, req.Addresses)
	if err != nil {
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
		req.BackendKey = selectorKey(svc.Spec.Selector)
	}
	return req, nil
}

func annotation(svc *corev1.Service, names [2]string) (string, error) {
	a, aok := svc.Annotations[names[0]]
	b, bok := svc.Annotations[names[1]]
	a, b = strings.TrimSpace(a), strings.TrimSpace(b)
	if aok && bok && a != b {
		return "", fmt.Errorf("%w: annotations %s=%q and %s=%q disagree", ErrInvalidService, names[0], a, names[1], b)
	}
	if aok {
		return a, nil
	}
	return b, nil
}

func requestedAddresses(svc *corev1.Service) ([]netip.Addr, error) {
	raw, err := annotation(svc, annotationIPs)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	var v4, v6 int
	if raw != "" {
		for _, s := range strings.Split(raw, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(s))
			if err != nil {
				return nil, fmt.Errorf("%w: annotation loadBalancerIPs: %q is not an IP address", ErrInvalidService, s)
			}
			a = a.Unmap()
			if a.Is4() {
				v4++
			} else {
				v6++
			}
			addrs = append(addrs, a)
		}
		if v4 > 1 || v6 > 1 {
			return nil, fmt.Errorf("%w: annotation loadBalancerIPs %q: at most one address per family", ErrInvalidService, raw)
		}
	}
	if lb := strings.TrimSpace(svc.Spec.LoadBalancerIP); lb != "" {
		a, err := netip.ParseAddr(lb)
		if err != nil {
			return nil, fmt.Errorf("%w: spec.loadBalancerIP %q is not an IP address", ErrInvalidService, lb)
		}
		a = a.Unmap()
		if len(addrs) > 0 && !(len(addrs) == 1 && addrs[0] == a) {
			return nil, fmt.Errorf("%w: spec.loadBalancerIP %s and annotation loadBalancerIPs %q disagree", ErrInvalidService, a, raw)
		}
		addrs = []netip.Addr{a}
	}
	return addrs, nil
}

func familyPolicy(svc *corev1.Service, addrs []netip.Addr) (allocator.FamilyPolicy, error) {
	var fp allocator.FamilyPolicy
	if len(svc.Spec.IPFamilies) > 0 {
		switch svc.Spec.IPFamilies[0] {
		case corev1.IPv4Protocol:
			fp.Primary = allocator.IPv4
		case corev1.IPv6Protocol:
			fp.Primary = allocator.IPv6
		}
	} else if len(addrs) > 0 && addrs[0].Is6() {
		fp.Primary = allocator.IPv6
	}
	if svc.Spec.IPFamilyPolicy != nil {
		switch *svc.Spec.IPFamilyPolicy {
		case corev1.IPFamilyPolicyPreferDualStack:
			fp.Stack = allocator.PreferDualStack
		case corev1.IPFamilyPolicyRequireDualStack:
			fp.Stack = allocator.RequireDualStack
		}
	}
	if fp.Stack == allocator.SingleStack && len(addrs) > 1 {
		return fp, fmt.Errorf("%w: two addresses requested for a single-stack service", ErrInvalidService)
	}
	if fp.Stack == allocator.SingleStack && len(addrs) == 1 && len(svc.Spec.IPFamilies) > 0 && (addrs[0].Is6()) != (fp.Primary == allocator.IPv6) {
		return fp, fmt.Errorf("%w: requested address %s is not of the service's family %s", ErrInvalidService, addrs[0], svc.Spec.IPFamilies[0])
	}
	return fp, nil
}

// selectorKey is a canonical form of a pod selector: ETP Local services may
// share an address only when they select the same pods.
func selectorKey(sel map[string]string) string {
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

package stack

import (
	"context"
	"net/netip"
	"slices"
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/lbkit/lbkit/k8s/api/v1beta1"
)

// L2StatusNodes returns the nodes that ServiceL2Status objects name for
// the service, sorted.
func (s *Stack) L2StatusNodes(ctx context.Context, service string) ([]string, error) {
	list, err := s.Dynamic.Resource(v1beta1.ServiceL2StatusesResource).Namespace(Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var nodes []string
	for _, o := range list.Items {
		name, _, _ := unstructured.NestedString(o.Object, "status", "serviceName")
		ns, _, _ := unstructured.NestedString(o.Object, "status", "serviceNamespace")
		node, _, _ := unstructured.NestedString(o.Object, "status", "node")
		if name == service && ns == "default" && node != "" {
			nodes = append(nodes, node)
		}
	}
	sort.Strings(nodes)
	return nodes, nil
}

// NextHops returns the next hops FRR holds for the host prefix of addr,
// sorted; none when the route is absent.
func (s *Stack) NextHops(ctx context.Context, addr netip.Addr) ([]netip.Addr, error) {
	paths, err := s.Router.Paths(ctx, netip.PrefixFrom(addr, addr.BitLen()))
	if err != nil {
		return nil, err
	}
	var hops []netip.Addr
	for _, p := range paths {
		if !p.Valid {
			continue
		}
		for _, h := range p.NextHops {
			if !slices.Contains(hops, h) {
				hops = append(hops, h)
			}
		}
	}
	slices.SortFunc(hops, func(a, b netip.Addr) int { return a.Compare(b) })
	return hops, nil
}

// NodeAddrs returns the IPv4 addresses of the named nodes, sorted.
func (s *Stack) NodeAddrs(names ...string) []netip.Addr {
	var out []netip.Addr
	for _, n := range names {
		if h := s.Lab.Host(n); h != nil {
			out = append(out, h.IPv4)
		}
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out
}

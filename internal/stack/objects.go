package stack

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/lbkit/lbkit/internal/netlab"
	"github.com/lbkit/lbkit/k8s/api/v1beta1"
	"github.com/lbkit/lbkit/k8s/api/v1beta2"
)

// Config is the metallb.io configuration of the lab: an L2 pool on the
// LAN with an L2Advertisement, a BGP pool with a BGPPeer (the router) and
// a BGPAdvertisement. Unchanged MetalLB YAML.
var Config = fmt.Sprintf(`apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: lan
  namespace: metallb-system
spec:
  addresses:
  - %s
  - %s
---
apiVersion: metallb.io/v1beta1
kind: L2Advertisement
metadata:
  name: lan
  namespace: metallb-system
spec:
  ipAddressPools:
  - lan
---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: routed
  namespace: metallb-system
spec:
  addresses:
  - %s
  - %s
  autoAssign: false
  avoidBuggyIPs: true
---
apiVersion: metallb.io/v1beta2
kind: BGPPeer
metadata:
  name: router
  namespace: metallb-system
spec:
  myASN: %d
  peerASN: %d
  peerAddress: 192.0.2.1
  holdTime: 9s
  keepaliveTime: 3s
  dualStackAddressFamily: true
---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: routed
  namespace: metallb-system
spec:
  ipAddressPools:
  - routed
`, L2Pool4, L2Pool6, BGPPool4, BGPPool6, NodeASN, RouterASN)

var gvrs = map[string]schema.GroupVersionResource{
	"IPAddressPool":    v1beta1.IPAddressPoolsResource,
	"L2Advertisement":  v1beta1.L2AdvertisementsResource,
	"BGPAdvertisement": v1beta1.BGPAdvertisementsResource,
	"BGPPeer":          v1beta2.BGPPeersResource,
	"Community":        v1beta1.CommunitiesResource,
}

// Apply creates or updates the metallb.io objects of a YAML text.
func (s *Stack) Apply(ctx context.Context, text string) error {
	for _, doc := range strings.Split(text, "\n---\n") {
		if strings.TrimSpace(doc) == "" {
			continue
		}
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			return err
		}
		obj := &unstructured.Unstructured{Object: m}
		gvr, ok := gvrs[obj.GetKind()]
		if !ok {
			return fmt.Errorf("stack: cannot apply kind %q", obj.GetKind())
		}
		res := s.Dynamic.Resource(gvr).Namespace(obj.GetNamespace())
		cur, err := res.Get(ctx, obj.GetName(), metav1.GetOptions{})
		switch {
		case err == nil:
			obj.SetResourceVersion(cur.GetResourceVersion())
			_, err = res.Update(ctx, obj, metav1.UpdateOptions{})
		case apierrors.IsNotFound(err):
			_, err = res.Create(ctx, obj, metav1.CreateOptions{})
		}
		if err != nil {
			return fmt.Errorf("stack: apply %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
	return nil
}

// ServiceOptions shape a test Service.
type ServiceOptions struct {
	// Pool pins the pool ("lan" or "routed"); empty lets the controller pick.
	Pool string
	// Local sets externalTrafficPolicy Local.
	Local bool
	// DualStack asks for RequireDualStack (IPv4 first).
	DualStack bool
	// IPv6 asks for a single IPv6 address.
	IPv6 bool
}

// CreateService creates a LoadBalancer Service in "default" on HTTPPort,
// selecting app=<name>.
func (s *Stack) CreateService(ctx context.Context, name string, o ServiceOptions) error {
	noNodePorts := false
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer,
			// The nodes receive VIP traffic directly; lbkit needs no node
			// ports (and the default range holds only 2,768 of them).
			AllocateLoadBalancerNodePorts: &noNodePorts,
			Selector:                      map[string]string{"app": name},
			Ports:                         []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: HTTPPort}},
		},
	}
	if o.Pool != "" {
		svc.Annotations = map[string]string{"metallb.io/address-pool": o.Pool}
	}
	if o.Local {
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}
	switch {
	case o.DualStack:
		p := corev1.IPFamilyPolicyRequireDualStack
		svc.Spec.IPFamilyPolicy = &p
		svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol, corev1.IPv6Protocol}
	case o.IPv6:
		svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
	}
	_, err := s.Client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	return err
}

// SetEndpoints writes the Service's EndpointSlice: one ready endpoint per
// named node, at the node's address. No node means no ready endpoint.
func (s *Stack) SetEndpoints(ctx context.Context, service string, nodes ...string) error {
	ready := true
	port := int32(HTTPPort)
	proto := corev1.ProtocolTCP
	pname := "http"
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: service + "-lab", Namespace: "default",
			Labels: map[string]string{discoveryv1.LabelServiceName: service, discoveryv1.LabelManagedBy: "lbkit-lab"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &pname, Port: &port, Protocol: &proto}},
	}
	for _, n := range nodes {
		h := s.Lab.Host(n)
		if h == nil {
			return fmt.Errorf("stack: no node %q", n)
		}
		node := n
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{h.IPv4.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			NodeName:   &node,
		})
	}
	api := s.Client.DiscoveryV1().EndpointSlices("default")
	cur, err := api.Get(ctx, slice.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = api.Create(ctx, slice, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	slice.ResourceVersion = cur.ResourceVersion
	_, err = api.Update(ctx, slice, metav1.UpdateOptions{})
	return err
}

// WaitIngress waits until the Service has want addresses in its status
// and returns them.
func (s *Stack) WaitIngress(ctx context.Context, name string, want int, timeout time.Duration) ([]netip.Addr, error) {
	deadline := time.Now().Add(timeout)
	for {
		svc, err := s.Client.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
		if err == nil && len(svc.Status.LoadBalancer.Ingress) >= want {
			var out []netip.Addr
			for _, in := range svc.Status.LoadBalancer.Ingress {
				if a, err := netip.ParseAddr(in.IP); err == nil {
					out = append(out, a)
				}
			}
			return out, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("stack: service %s has no address after %s", name, timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Get fetches http://addr:HTTPPort/ from inside host and returns the body
// (the answering node's name).
func Get(ctx context.Context, from *netlab.Host, addr netip.Addr, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tr := &http.Transport{
		DialContext:       from.DialContext,
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(addr.String(), strconv.Itoa(HTTPPort))+"/", nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// WaitReachable retries Get until it answers or timeout passes; it
// returns the answering node and the time it took.
func WaitReachable(ctx context.Context, from *netlab.Host, addr netip.Addr, timeout time.Duration) (string, time.Duration, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		node, err := Get(ctx, from, addr, 200*time.Millisecond)
		if err == nil {
			return node, time.Since(start), nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return "", time.Since(start), ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return "", time.Since(start), fmt.Errorf("stack: %s unreachable from %s for %s: %v", addr, from.Name, timeout, lastErr)
}

package speaker

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/record"

	"github.com/lbkit/lbkit/announce"
	"github.com/lbkit/lbkit/k8s/annotations"
	"github.com/lbkit/lbkit/k8s/api/v1beta1"
	"github.com/lbkit/lbkit/k8s/api/v1beta2"
	"github.com/lbkit/lbkit/k8s/config"
	"github.com/lbkit/lbkit/k8s/source"
	"github.com/lbkit/lbkit/membership"
)

// fakeAnnouncer records what is announced; it also takes peers.
type fakeAnnouncer struct {
	mu      sync.Mutex
	current map[string]announce.Announcement
	calls   []string // "announce ns/name" or "withdraw ns/name"
	peers   []announce.BGPPeer
	fail    error
	changed chan struct{} // signalled after every call
}

var (
	_ announce.Announcer = (*fakeAnnouncer)(nil)
	_ BGPAnnouncer       = (*fakeAnnouncer)(nil)
	_ Liveness           = (*membership.Membership)(nil)
	_ readier            = (*membership.Membership)(nil)
	_ watcher            = (*membership.Membership)(nil)
)

func newFakeAnnouncer() *fakeAnnouncer {
	return &fakeAnnouncer{current: map[string]announce.Announcement{}, changed: make(chan struct{}, 1)}
}

func (f *fakeAnnouncer) signal() {
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func (f *fakeAnnouncer) Announce(_ context.Context, a announce.Announcement) error {
	defer f.signal()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.calls = append(f.calls, "announce "+a.Service)
	f.current[a.Service] = a
	return nil
}

func (f *fakeAnnouncer) Withdraw(_ context.Context, svc string) error {
	defer f.signal()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "withdraw "+svc)
	delete(f.current, svc)
	return nil
}

func (f *fakeAnnouncer) Run(ctx context.Context) error { <-ctx.Done(); return nil }

func (f *fakeAnnouncer) SetPeers(_ context.Context, peers []announce.BGPPeer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.peers = slices.Clone(peers)
	return nil
}

func (f *fakeAnnouncer) get(svc string) (announce.Announcement, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.current[svc]
	return a, ok
}

func (f *fakeAnnouncer) peerNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, p := range f.peers {
		out = append(out, p.Name)
	}
	return out
}

// fakeLiveness is a fixed alive set; Subscribe records the callback.
type fakeLiveness struct {
	mu    sync.Mutex
	alive []string
	subs  []func(membership.Event)
	watch []string
}

func (l *fakeLiveness) Alive() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.alive)
}

func (l *fakeLiveness) Subscribe(fn func(membership.Event)) func() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.subs = append(l.subs, fn)
	return func() {}
}

func (l *fakeLiveness) Watch(nodes []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.watch = slices.Clone(nodes)
}

// cluster is the API objects every node's speaker sees.
type cluster struct {
	nodes    []*corev1.Node
	services []*corev1.Service
	slices   []*discoveryv1.EndpointSlice
	res      config.Resources
}

// member is one node's speaker with its fakes.
type member struct {
	s      *Speaker
	l2     *fakeAnnouncer
	bgp    *fakeAnnouncer
	live   *fakeLiveness
	events *record.FakeRecorder
	reg    *prometheus.Registry
	client *fake.Clientset
}

// newMember builds the speaker of node over c's objects, preloaded into
// its informer caches, with the configuration applied and membership
// ready, and alive listing the live speakers.
func newMember(t *testing.T, c *cluster, node string, alive []string) *member {
	t.Helper()
	m := &member{l2: newFakeAnnouncer(), bgp: newFakeAnnouncer(), live: &fakeLiveness{alive: alive},
		events: record.NewFakeRecorder(100), reg: prometheus.NewRegistry(), client: fake.NewClientset()}
	s, err := New(Config{Client: m.client, NodeName: node, L2: m.l2, BGP: m.bgp, Liveness: m.live,
		Recorder: m.events, Registerer: m.reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	m.s = s
	for _, n := range c.nodes {
		must(t, s.factory.Core().V1().Nodes().Informer().GetIndexer().Add(n))
	}
	for _, svc := range c.services {
		must(t, s.factory.Core().V1().Services().Informer().GetIndexer().Add(svc))
	}
	for _, es := range c.slices {
		must(t, s.factory.Discovery().V1().EndpointSlices().Informer().GetIndexer().Add(es))
	}
	cfg, errs := config.Translate(c.res)
	if len(errs) > 0 {
		t.Fatalf("test configuration: %v", errs)
	}
	s.ApplyConfig(context.Background(), source.Snapshot{Config: cfg, Resources: c.res})
	s.l2Ready = true
	return m
}

func (m *member) sync(t *testing.T, key string) {
	t.Helper()
	if err := m.s.sync(context.Background(), key); err != nil {
		t.Fatalf("sync %s: %v", key, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Object builders.

func node(name string, labels map[string]string, mods ...func(*corev1.Node)) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	for _, m := range mods {
		m(n)
	}
	return n
}

func networkUnavailable(n *corev1.Node) {
	n.Status.Conditions = append(n.Status.Conditions, corev1.NodeCondition{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionTrue})
}

func lbService(name, pool string, ips ...string) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name,
			Annotations: map[string]string{annotations.Prefix + annotations.IPAllocatedFromPool: pool}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyTypeCluster},
	}
	for _, ip := range ips {
		s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
	}
	return s
}

func local(s *corev1.Service) *corev1.Service {
	s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyTypeLocal
	return s
}

// endpoint is a node name and readiness.
type endpoint struct {
	node  string
	ready bool
}

func slice(svc string, eps ...endpoint) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: svc + "-abc",
			Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	for i, e := range eps {
		ready := e.ready
		es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}).String()},
			NodeName:   &e.node,
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
		})
	}
	return es
}

func ipPool(name string, addrs ...string) v1beta1.IPAddressPool {
	return v1beta1.IPAddressPool{ObjectMeta: metav1.ObjectMeta{Namespace: "metallb-system", Name: name},
		Spec: v1beta1.IPAddressPoolSpec{Addresses: addrs}}
}

func l2Ad(name string, pools []string, nodeSel map[string]string, ifaces ...string) v1beta1.L2Advertisement {
	a := v1beta1.L2Advertisement{ObjectMeta: metav1.ObjectMeta{Namespace: "metallb-system", Name: name},
		Spec: v1beta1.L2AdvertisementSpec{IPAddressPools: pools, Interfaces: ifaces}}
	if nodeSel != nil {
		a.Spec.NodeSelectors = []metav1.LabelSelector{{MatchLabels: nodeSel}}
	}
	return a
}

func bgpAd(name string, pools []string, nodeSel map[string]string, mod func(*v1beta1.BGPAdvertisementSpec)) v1beta1.BGPAdvertisement {
	a := v1beta1.BGPAdvertisement{ObjectMeta: metav1.ObjectMeta{Namespace: "metallb-system", Name: name},
		Spec: v1beta1.BGPAdvertisementSpec{IPAddressPools: pools}}
	if nodeSel != nil {
		a.Spec.NodeSelectors = []metav1.LabelSelector{{MatchLabels: nodeSel}}
	}
	if mod != nil {
		mod(&a.Spec)
	}
	return a
}

func bgpPeer(name, addr string, nodeSel map[string]string) v1beta2.BGPPeer {
	p := v1beta2.BGPPeer{ObjectMeta: metav1.ObjectMeta{Namespace: "metallb-system", Name: name},
		Spec: v1beta2.BGPPeerSpec{MyASN: 64512, ASN: 64512, Address: addr}}
	if nodeSel != nil {
		p.Spec.NodeSelectors = []metav1.LabelSelector{{MatchLabels: nodeSel}}
	}
	return p
}

// gauge reads one sample of a gauge or counter from reg; -1 if absent.
func gauge(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			if m.Gauge != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return -1
}

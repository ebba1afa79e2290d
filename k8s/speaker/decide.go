package speaker

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/lbkit/lbkit/announce"
	"github.com/lbkit/lbkit/k8s/annotations"
	"github.com/lbkit/lbkit/k8s/config"
	"github.com/lbkit/lbkit/membership"
)

// LabelExcludeFromLB marks a node that must not receive load balancer
// traffic; a speaker on it announces nothing.
const LabelExcludeFromLB = "node.kubernetes.io/exclude-from-external-load-balancers"

// view is everything one decision depends on. Every node builds the same
// view from the same API objects and the same alive set, so every node
// elects the same layer 2 owner.
type view struct {
	self   string
	class  string
	cfg    config.Config
	nodes  map[string]*corev1.Node
	alive  []string
	l2     bool // layer 2 mode is enabled and membership is ready
	bgp    bool // BGP mode is enabled
	svc    *corev1.Service
	slices []*discoveryv1.EndpointSlice
}

// plan is what this node should announce for one service. A nil
// announcement means nothing for that mode.
type plan struct {
	l2       *announce.Announcement
	l2Owner  string // the elected layer 2 owner, "" when none
	bgp      *announce.Announcement
	bgpPeers []string // peers the BGP advertisement targets, sorted
	watch    []string // owners this node is next in line after
	reason   string   // why nothing is announced, for logs
}

// decide computes the plan for v.svc as seen by v.self.
func decide(key string, v view) plan {
	if v.svc == nil {
		return plan{reason: "service deleted"}
	}
	if !handles(v.svc, v.class) {
		return plan{reason: "not a LoadBalancer of our class"}
	}
	addrs := ingressAddrs(v.svc)
	if len(addrs) == 0 {
		return plan{reason: "no address assigned"}
	}
	pool := poolOf(v.svc, v.cfg, addrs)
	if pool == "" {
		return plan{reason: "addresses are in no configured pool"}
	}
	ready, anyReady := readyNodes(v.svc, v.slices)
	if !anyReady {
		return plan{reason: "no ready endpoints"}
	}
	local := v.svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyTypeLocal

	var p plan
	if v.l2 {
		if ads := v.cfg.L2For(pool); len(ads) > 0 {
			eligible := make([]string, 0, len(v.nodes))
			for _, name := range sortedKeys(v.nodes) {
				n := v.nodes[name]
				if usable(n) && l2Selects(ads, n.Labels) && (!local || ready[name]) {
					eligible = append(eligible, name)
				}
			}
			// One election per service, keyed by its lowest address, as
			// MetalLB does: a dual-stack service stays on one node, and
			// services sharing an address land on the same one.
			e := membership.Elect(v.self, []membership.Candidate{{Addr: addrs[0], Eligible: eligible}}, v.alive)
			p.l2Owner = e.Owners[addrs[0]]
			p.watch = e.Watch
			if p.l2Owner == v.self {
				p.l2 = &announce.Announcement{Service: key, Addresses: addrs,
					L2: announce.L2Options{Interfaces: l2Interfaces(ads, v.nodes[v.self].Labels)}}
			}
		}
	}
	if self := v.nodes[v.self]; v.bgp && self != nil && usable(self) && (!local || ready[v.self]) {
		var advs []announce.BGPAdvertisement
		for _, ad := range v.cfg.BGPFor(pool) {
			if config.SelectorsMatch(ad.NodeSelectors, self.Labels) {
				advs = append(advs, ad.Advertisement)
			}
		}
		if len(advs) > 0 {
			p.bgp = &announce.Announcement{Service: key, Addresses: addrs, BGP: advs}
			p.bgpPeers = targetPeers(advs, v.cfg.PeersFor(self.Labels))
		}
	}
	if p.l2 == nil && p.bgp == nil {
		switch {
		case p.l2Owner != "":
			p.reason = "layer 2 owner is " + p.l2Owner
		case local:
			p.reason = "no eligible node with a ready local endpoint"
		default:
			p.reason = "no advertisement selects this node"
		}
	}
	return p
}

// handles reports whether svc is a LoadBalancer Service of class.
func handles(svc *corev1.Service, class string) bool {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return false
	}
	c := ""
	if svc.Spec.LoadBalancerClass != nil {
		c = *svc.Spec.LoadBalancerClass
	}
	return c == class
}

// ingressAddrs returns the service's ingress IPs, sorted, unique.
func ingressAddrs(svc *corev1.Service) []netip.Addr {
	var out []netip.Addr
	for _, in := range svc.Status.LoadBalancer.Ingress {
		a, err := netip.ParseAddr(in.IP)
		if err != nil {
			continue
		}
		out = append(out, a.Unmap())
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// poolOf returns the pool the controller recorded, or, without the
// annotation (an older controller), the configured pool holding every
// address; "" when neither names a configured pool.
func poolOf(svc *corev1.Service, cfg config.Config, addrs []netip.Addr) string {
	if name, ok := annotations.AllocatedFromPool(svc); ok && name != "" {
		for _, p := range cfg.Pools {
			if p.Name == name {
				return name
			}
		}
		return ""
	}
	for _, p := range cfg.Pools {
		all := true
		for _, a := range addrs {
			in := false
			for _, r := range p.Addresses {
				if r.Contains(a) {
					in = true
					break
				}
			}
			all = all && in
		}
		if all {
			return p.Name
		}
	}
	return ""
}

// readyNodes returns the nodes with a ready endpoint of svc, and whether
// any endpoint at all is ready (one without a node name counts for the
// latter only). A nil ready condition means ready, as the EndpointSlice
// API says; publishNotReadyAddresses makes every endpoint count.
func readyNodes(svc *corev1.Service, eps []*discoveryv1.EndpointSlice) (map[string]bool, bool) {
	nodes := map[string]bool{}
	anyReady := false
	for _, s := range eps {
		for _, ep := range s.Endpoints {
			if len(ep.Addresses) == 0 {
				continue
			}
			r := ep.Conditions.Ready
			if !svc.Spec.PublishNotReadyAddresses && r != nil && !*r {
				continue
			}
			anyReady = true
			if ep.NodeName != nil {
				nodes[*ep.NodeName] = true
			}
		}
	}
	return nodes, anyReady
}

// usable reports whether n may receive load balancer traffic: not
// excluded by label and with its network available.
func usable(n *corev1.Node) bool {
	if n == nil {
		return false
	}
	if _, excluded := n.Labels[LabelExcludeFromLB]; excluded {
		return false
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeNetworkUnavailable && c.Status == corev1.ConditionTrue {
			return false
		}
	}
	return true
}

func l2Selects(ads []config.L2Advertisement, labels map[string]string) bool {
	for _, ad := range ads {
		if config.SelectorsMatch(ad.NodeSelectors, labels) {
			return true
		}
	}
	return false
}

// l2Interfaces is the union of the interfaces of the advertisements that
// select this node; nil (every interface) if one of them names none.
func l2Interfaces(ads []config.L2Advertisement, labels map[string]string) []string {
	var out []string
	for _, ad := range ads {
		if !config.SelectorsMatch(ad.NodeSelectors, labels) {
			continue
		}
		if len(ad.Interfaces) == 0 {
			return nil
		}
		out = append(out, ad.Interfaces...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// targetPeers returns the names of the sessions of this node that advs
// are sent to, sorted.
func targetPeers(advs []announce.BGPAdvertisement, peers []announce.BGPPeer) []string {
	var out []string
	for _, ad := range advs {
		for _, p := range peers {
			if len(ad.Peers) == 0 || slices.Contains(ad.Peers, p.Name) {
				out = append(out, p.Name)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

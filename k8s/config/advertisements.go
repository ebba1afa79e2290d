package config

import (
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lbkit/lbkit/announce"
	"github.com/lbkit/lbkit/k8s/api/v1beta1"
)

// resolvePools returns the valid pools an advertisement applies to: those
// named and those selected, or every valid pool when it names and selects
// none. Names of missing pools are errors; names of invalid pools are
// skipped (the pool's own error says why).
func (t *translation) resolvePools(ref objectRef, names []string, sels []metav1.LabelSelector, pools poolSet) ([]*poolEntry, bool) {
	ok := true
	chosen := map[string]*poolEntry{}
	if len(names) == 0 && len(sels) == 0 {
		for _, e := range pools.order {
			if e.ok {
				chosen[e.pool.Name] = e
			}
		}
	}
	for i, n := range names {
		e, found := pools.byName[n]
		if !found {
			t.add(ref.err(fmt.Sprintf("spec.ipAddressPools[%d]", i), ErrNotFound, "IPAddressPool %q does not exist", n))
			ok = false
			continue
		}
		if e.ok {
			chosen[n] = e
		}
	}
	converted, sok := t.selectors(ref, "spec.ipAddressPoolSelectors", sels)
	ok = ok && sok
	for _, e := range pools.order {
		if !e.ok {
			continue
		}
		for _, s := range converted {
			if s.Matches(e.labels) {
				chosen[e.pool.Name] = e
				break
			}
		}
	}
	out := make([]*poolEntry, 0, len(chosen))
	for _, e := range chosen {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pool.Name < out[j].pool.Name })
	return out, ok
}

func poolNames(es []*poolEntry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.pool.Name
	}
	return out
}

// maxInterfaceName is IFNAMSIZ-1, the longest Linux interface name.
const maxInterfaceName = 15

func (t *translation) l2(in []v1beta1.L2Advertisement, pools poolSet) []L2Advertisement {
	var out []L2Advertisement
	for _, a := range sortByName(in, func(a *v1beta1.L2Advertisement) (string, string) { return a.Namespace, a.Name }) {
		ref := objectRef{"L2Advertisement", a.Namespace, a.Name}
		ps, ok := t.resolvePools(ref, a.Spec.IPAddressPools, a.Spec.IPAddressPoolSelectors, pools)
		nodes, nok := t.selectors(ref, "spec.nodeSelectors", a.Spec.NodeSelectors)
		ok = ok && nok
		for i, ifi := range a.Spec.Interfaces {
			if ifi == "" || len(ifi) > maxInterfaceName || strings.ContainsAny(ifi, "/ \t\n") {
				t.add(ref.err(fmt.Sprintf("spec.interfaces[%d]", i), ErrInvalidValue, "%q is not an interface name", ifi))
				ok = false
			}
		}
		if !ok {
			continue
		}
		out = append(out, L2Advertisement{
			Name:          ref.namespace + "/" + ref.name,
			Pools:         poolNames(ps),
			NodeSelectors: nodes,
			Interfaces:    append([]string(nil), a.Spec.Interfaces...),
		})
	}
	return out
}

func (t *translation) bgp(in []v1beta1.BGPAdvertisement, pools poolSet, peers []*peerEntry, aliases map[string]alias) []BGPAdvertisement {
	peerByName := make(map[string]*peerEntry, len(peers))
	for _, p := range peers {
		if _, dup := peerByName[p.Peer.Peer.Name]; !dup {
			peerByName[p.Peer.Peer.Name] = p
		}
	}
	var out []BGPAdvertisement
	for _, a := range sortByName(in, func(a *v1beta1.BGPAdvertisement) (string, string) { return a.Namespace, a.Name }) {
		ref := objectRef{"BGPAdvertisement", a.Namespace, a.Name}
		ps, ok := t.resolvePools(ref, a.Spec.IPAddressPools, a.Spec.IPAddressPoolSelectors, pools)
		nodes, nok := t.selectors(ref, "spec.nodeSelectors", a.Spec.NodeSelectors)
		ok = ok && nok
		adv := announce.BGPAdvertisement{AggregationLength: 32, AggregationLengthV6: 128, LocalPref: a.Spec.LocalPref}
		if l := a.Spec.AggregationLength; l != nil {
			adv.AggregationLength = int(*l)
		}
		if l := a.Spec.AggregationLengthV6; l != nil {
			adv.AggregationLengthV6 = int(*l)
		}
		ok = t.aggregation(ref, adv, ps) && ok

		for i, name := range a.Spec.Peers {
			if _, found := peerByName[name]; !found {
				t.add(ref.err(fmt.Sprintf("spec.peers[%d]", i), ErrNotFound, "BGPPeer %q does not exist", name))
				ok = false
				continue
			}
			adv.Peers = append(adv.Peers, name)
		}
		if adv.LocalPref != 0 && t.allEBGP(adv.Peers, peers, peerByName) {
			t.add(ref.err("spec.localPref", ErrInvalidValue, "localPref %d is only sent to iBGP peers, and every peer this advertisement targets is eBGP", adv.LocalPref))
			ok = false
		}
		for i, c := range a.Spec.Communities {
			comm, err := resolveCommunity(c, aliases)
			if err != nil {
				t.add(ref.err(fmt.Sprintf("spec.communities[%d]", i), err, "%q", c))
				ok = false
				continue
			}
			adv.Communities = append(adv.Communities, comm)
		}
		if !ok {
			continue
		}
		out = append(out, BGPAdvertisement{
			Name:          ref.namespace + "/" + ref.name,
			Pools:         poolNames(ps),
			NodeSelectors: nodes,
			Advertisement: adv,
		})
	}
	return out
}

// aggregation checks the aggregation lengths against the pools: a route of
// length L covers a block of addresses, which must stay inside the pool, so
// L may not be shorter than any CIDR a pool range splits into.
func (t *translation) aggregation(ref objectRef, adv announce.BGPAdvertisement, pools []*poolEntry) bool {
	ok := true
	if adv.AggregationLength < 1 || adv.AggregationLength > 32 {
		t.add(ref.err("spec.aggregationLength", ErrInvalidValue, "%d is not between 1 and 32", adv.AggregationLength))
		ok = false
	}
	if adv.AggregationLengthV6 < 1 || adv.AggregationLengthV6 > 128 {
		t.add(ref.err("spec.aggregationLengthV6", ErrInvalidValue, "%d is not between 1 and 128", adv.AggregationLengthV6))
		ok = false
	}
	if !ok {
		return false
	}
	reported := map[string]bool{}
	for _, e := range pools {
		for _, r := range e.pool.Addresses {
			field, l := "spec.aggregationLength", adv.AggregationLength
			if r.From().Is6() {
				field, l = "spec.aggregationLengthV6", adv.AggregationLengthV6
			}
			if reported[field] {
				continue
			}
			for _, p := range r.Prefixes() {
				if l < p.Bits() {
					t.add(ref.err(field, ErrInvalidValue,
						"%d is shorter than /%d: routes for %s (IPAddressPool %q) would cover addresses outside the pool",
						l, p.Bits(), p, e.pool.Name))
					reported[field] = true
					ok = false
					break
				}
			}
		}
	}
	return ok
}

// allEBGP reports whether every targeted peer (the named ones, or all when
// none is named) is eBGP; false when there is no peer to judge by.
func (t *translation) allEBGP(named []string, peers []*peerEntry, byName map[string]*peerEntry) bool {
	var targets []*peerEntry
	if len(named) == 0 {
		for _, p := range peers {
			if !t.failed(p.ref) {
				targets = append(targets, p)
			}
		}
	} else {
		for _, n := range named {
			targets = append(targets, byName[n])
		}
	}
	if len(targets) == 0 {
		return false
	}
	for _, p := range targets {
		if !p.external() {
			return false
		}
	}
	return true
}

// resolveCommunity resolves an alias from a Community object first, then
// parses c as a community.
func resolveCommunity(c string, aliases map[string]alias) (announce.Community, error) {
	if a, found := aliases[c]; found {
		if !a.ok {
			return announce.Community{}, fmt.Errorf("%w: alias is defined by Community %s, which has errors", ErrNotFound, a.from)
		}
		return a.value, nil
	}
	v, err := announce.ParseCommunity(c)
	if err == nil {
		return v, nil
	}
	if strings.Contains(c, ":") {
		return announce.Community{}, fmt.Errorf("%w: %v", ErrInvalidValue, err)
	}
	return announce.Community{}, fmt.Errorf("%w: no Community defines this alias, and it is not a community value", ErrNotFound)
}

type alias struct {
	value announce.Community
	from  string // namespace/name of the Community
	ok    bool
}

func (t *translation) communities(in []v1beta1.Community) map[string]alias {
	out := map[string]alias{}
	for _, c := range sortByName(in, func(c *v1beta1.Community) (string, string) { return c.Namespace, c.Name }) {
		ref := objectRef{"Community", c.Namespace, c.Name}
		from := c.Namespace + "/" + c.Name
		for i, a := range c.Spec.Communities {
			field := fmt.Sprintf("spec.communities[%d]", i)
			if a.Name == "" {
				t.add(ref.err(field+".name", ErrInvalidValue, "empty alias name"))
				continue
			}
			if prev, dup := out[a.Name]; dup {
				t.add(ref.err(field+".name", ErrConflict, "alias %q is also defined by Community %s", a.Name, prev.from))
				continue
			}
			v, err := announce.ParseCommunity(a.Value)
			if err != nil {
				t.add(ref.err(field+".value", ErrInvalidValue, "%v", err))
				out[a.Name] = alias{from: from}
				continue
			}
			out[a.Name] = alias{value: v, from: from, ok: true}
		}
		if t.failed(ref) { // a bad object is left out whole
			for name, a := range out {
				if a.from == from {
					a.ok = false
					out[name] = a
				}
			}
		}
	}
	return out
}

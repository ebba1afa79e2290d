package config

import (
	"fmt"
	"net/netip"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/lbkit/lbkit/announce"
	"github.com/lbkit/lbkit/k8s/api/v1beta1"
	"github.com/lbkit/lbkit/k8s/api/v1beta2"
)

type peerEntry struct {
	Peer
	ref objectRef
}

// external reports whether the session is eBGP.
func (p *peerEntry) external() bool {
	if p.Peer.Peer.Dynamic != "" {
		return p.Peer.Peer.Dynamic == announce.DynamicExternal
	}
	return p.Peer.Peer.ASN != p.Peer.Peer.MyASN
}

// MetalLB's limits on the BGP timers.
const (
	minHoldTime    = 3 * time.Second
	maxConnectTime = 65535 * time.Second
)

func (t *translation) peers(in []v1beta2.BGPPeer, secrets []corev1.Secret, bfd map[string]*BFDProfile) []*peerEntry {
	secretByName := make(map[[2]string]*corev1.Secret, len(secrets))
	for i := range secrets {
		secretByName[[2]string{secrets[i].Namespace, secrets[i].Name}] = &secrets[i]
	}
	var out []*peerEntry
	seen := map[string]objectRef{}
	for _, p := range sortByName(in, func(p *v1beta2.BGPPeer) (string, string) { return p.Namespace, p.Name }) {
		e := &peerEntry{ref: objectRef{"BGPPeer", p.Namespace, p.Name}}
		e.Namespace = p.Namespace
		if prev, dup := seen[p.Name]; dup {
			t.add(e.ref.err("metadata.name", ErrConflict, "peer name %q is also used by BGPPeer %s/%s", p.Name, prev.namespace, prev.name))
		} else {
			seen[p.Name] = e.ref
		}
		t.peer(e, p, secretByName, bfd)
		out = append(out, e)
	}
	return out
}

func (t *translation) peer(e *peerEntry, p *v1beta2.BGPPeer, secrets map[[2]string]*corev1.Secret, bfd map[string]*BFDProfile) {
	ref, s := e.ref, &p.Spec
	bp := announce.BGPPeer{
		Name:            p.Name,
		MyASN:           s.MyASN,
		ASN:             s.ASN,
		Port:            s.Port,
		EBGPMultiHop:    s.EBGPMultiHop,
		VRF:             s.VRFName,
		GracefulRestart: s.EnableGracefulRestart,
		DualStack:       !s.DisableMP,
	}
	if bp.Port == 0 {
		bp.Port = 179
	}
	if s.MyASN == 0 {
		t.add(ref.err("spec.myASN", ErrInvalidValue, "myASN is required"))
	}
	switch {
	case s.ASN != 0 && s.DynamicASN != "":
		t.add(ref.err("spec.dynamicASN", ErrInvalidValue, "peerASN and dynamicASN are mutually exclusive"))
	case s.ASN == 0 && s.DynamicASN == "":
		t.add(ref.err("spec.peerASN", ErrInvalidValue, "one of peerASN and dynamicASN is required"))
	case s.DynamicASN == v1beta2.InternalASNMode:
		bp.Dynamic = announce.DynamicInternal
	case s.DynamicASN == v1beta2.ExternalASNMode:
		bp.Dynamic = announce.DynamicExternal
	case s.DynamicASN != "":
		t.add(ref.err("spec.dynamicASN", ErrInvalidValue, "%q is neither internal nor external", s.DynamicASN))
	}

	var err error
	if bp.Address, err = parseIP(s.Address); err != nil {
		t.add(ref.err("spec.peerAddress", ErrInvalidValue, "%v", err))
	}
	if s.SrcAddress != "" {
		if bp.SourceAddress, err = parseIP(s.SrcAddress); err != nil {
			t.add(ref.err("spec.sourceAddress", ErrInvalidValue, "%v", err))
		} else if bp.Address.IsValid() && bp.Address.Is4() != bp.SourceAddress.Is4() {
			t.add(ref.err("spec.sourceAddress", ErrInvalidValue, "%s is not of the family of peerAddress %s", bp.SourceAddress, bp.Address))
		}
	}
	if s.RouterID != "" {
		if bp.RouterID, err = parseIP(s.RouterID); err != nil || !bp.RouterID.Is4() {
			t.add(ref.err("spec.routerID", ErrInvalidValue, "%q is not an IPv4 address", s.RouterID))
		}
	}

	if s.HoldTime != nil {
		bp.HoldTime = s.HoldTime.Duration
		if bp.HoldTime != 0 && bp.HoldTime < minHoldTime {
			t.add(ref.err("spec.holdTime", ErrInvalidValue, "%s: must be 0 or at least %s (RFC 4271)", bp.HoldTime, minHoldTime))
		}
	}
	if s.KeepaliveTime != nil {
		bp.KeepaliveTime = s.KeepaliveTime.Duration
		if bp.KeepaliveTime < 0 {
			t.add(ref.err("spec.keepaliveTime", ErrInvalidValue, "%s is negative", bp.KeepaliveTime))
		} else if s.HoldTime != nil && bp.HoldTime != 0 && bp.KeepaliveTime > bp.HoldTime {
			t.add(ref.err("spec.keepaliveTime", ErrInvalidValue, "%s is longer than holdTime %s", bp.KeepaliveTime, bp.HoldTime))
		}
	}
	if s.ConnectTime != nil {
		bp.ConnectTime = s.ConnectTime.Duration
		if bp.ConnectTime < time.Second || bp.ConnectTime > maxConnectTime || bp.ConnectTime%time.Second != 0 {
			t.add(ref.err("spec.connectTime", ErrInvalidValue, "%s: must be a whole number of seconds from 1s to %s", bp.ConnectTime, maxConnectTime))
		}
	}

	bp.Password = s.Password
	if sr := s.PasswordSecret; sr.Name != "" {
		if s.Password != "" {
			t.add(ref.err("spec.passwordSecret", ErrInvalidValue, "password and passwordSecret are mutually exclusive"))
		}
		ns := sr.Namespace
		if ns == "" {
			ns = p.Namespace
		}
		sec, found := secrets[[2]string{ns, sr.Name}]
		switch {
		case !found:
			t.add(ref.err("spec.passwordSecret", ErrNotFound, "Secret %s/%s does not exist", ns, sr.Name))
		case sec.Type != corev1.SecretTypeBasicAuth:
			t.add(ref.err("spec.passwordSecret", ErrInvalidValue, "Secret %s/%s has type %q, want %q", ns, sr.Name, sec.Type, corev1.SecretTypeBasicAuth))
		default:
			pw, has := sec.Data[corev1.BasicAuthPasswordKey]
			if !has {
				t.add(ref.err("spec.passwordSecret", ErrNotFound, "Secret %s/%s has no key %q", ns, sr.Name, corev1.BasicAuthPasswordKey))
			}
			bp.Password = string(pw)
		}
	}
	if s.BFDProfile != "" {
		prof, found := bfd[s.BFDProfile]
		switch {
		case !found:
			t.add(ref.err("spec.bfdProfile", ErrNotFound, "BFDProfile %q does not exist", s.BFDProfile))
		case prof == nil:
			t.add(ref.err("spec.bfdProfile", ErrInvalidValue, "BFDProfile %q has errors", s.BFDProfile))
		default:
			e.BFD = prof
		}
	}
	e.NodeSelectors, _ = t.selectors(ref, "spec.nodeSelectors", s.NodeSelectors)
	e.Peer.Peer = bp
}

func parseIP(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q: zoned addresses are not supported", s)
	}
	return a.Unmap(), nil
}

// checkASNs rejects a peer whose myASN differs from that of another peer
// the same node connects to in the same VRF: a BGP speaker has one local
// AS per VRF. The peer that sorts first keeps working. Without nodes, only
// peers that select every node are compared.
func (t *translation) checkASNs(peers []*peerEntry, nodes []corev1.Node) {
	type key struct{ node, vrf string }
	sorted := append([]corev1.Node(nil), nodes...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	first := map[key]*peerEntry{}
	check := func(node string, labels map[string]string, every bool) {
		for _, p := range peers {
			if t.failed(p.ref) {
				continue
			}
			if every && len(p.NodeSelectors) > 0 || !every && !SelectorsMatch(p.NodeSelectors, labels) {
				continue
			}
			k := key{node, p.Peer.Peer.VRF}
			f, found := first[k]
			if !found {
				first[k] = p
				continue
			}
			if f.Peer.Peer.MyASN != p.Peer.Peer.MyASN {
				where := "every node"
				if !every {
					where = "node " + node
				}
				t.add(p.ref.err("spec.myASN", ErrConflict, "myASN %d differs from myASN %d of BGPPeer %s/%s, which %s also connects to",
					p.Peer.Peer.MyASN, f.Peer.Peer.MyASN, f.ref.namespace, f.ref.name, where))
			}
		}
	}
	if len(sorted) == 0 {
		check("", nil, true)
		return
	}
	for _, n := range sorted {
		check(n.Name, n.Labels, false)
	}
}

func (t *translation) bfdProfiles(in []v1beta1.BFDProfile) map[string]*BFDProfile {
	out := map[string]*BFDProfile{}
	for _, b := range sortByName(in, func(b *v1beta1.BFDProfile) (string, string) { return b.Namespace, b.Name }) {
		ref := objectRef{"BFDProfile", b.Namespace, b.Name}
		if _, dup := out[b.Name]; dup {
			t.add(ref.err("metadata.name", ErrConflict, "BFDProfile name %q is used twice", b.Name))
			continue
		}
		s := b.Spec
		prof := &BFDProfile{Name: b.Name}
		ok := true
		field := func(name string, v *uint32, lo, hi uint32, dst *uint32) {
			if v == nil {
				return
			}
			if *v < lo || *v > hi {
				t.add(ref.err("spec."+name, ErrInvalidValue, "%d is not between %d and %d", *v, lo, hi))
				ok = false
				return
			}
			*dst = *v
		}
		field("receiveInterval", s.ReceiveInterval, 10, 60000, &prof.ReceiveInterval)
		field("transmitInterval", s.TransmitInterval, 10, 60000, &prof.TransmitInterval)
		field("echoInterval", s.EchoInterval, 10, 60000, &prof.EchoInterval)
		field("detectMultiplier", s.DetectMultiplier, 2, 255, &prof.DetectMultiplier)
		field("minimumTtl", s.MinimumTTL, 1, 254, &prof.MinimumTTL)
		prof.EchoMode = s.EchoMode != nil && *s.EchoMode
		prof.PassiveMode = s.PassiveMode != nil && *s.PassiveMode
		if !ok {
			prof = nil
		}
		out[b.Name] = prof
	}
	return out
}

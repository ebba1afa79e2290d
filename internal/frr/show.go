package frr

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
)

// Path is one BGP path FRR holds for a prefix.
type Path struct {
	NextHops    []netip.Addr
	PeerAddress netip.Addr
	LocalPref   uint32
	Communities []string // as FRR prints them, e.g. "64500:100", "graceful-shutdown"
	Large       []string // e.g. "64500:1:2"
	Best        bool
	Multipath   bool
	Valid       bool
	ASPath      string
}

type jsonPath struct {
	Valid     bool   `json:"valid"`
	Multipath bool   `json:"multipath"`
	LocPrf    uint32 `json:"locPrf"`
	Bestpath  *struct {
		Overall bool `json:"overall"`
	} `json:"bestpath"`
	ASPath *struct {
		String string `json:"string"`
	} `json:"aspath"`
	Community *struct {
		String string `json:"string"`
	} `json:"community"`
	LargeCommunity *struct {
		String string `json:"string"`
	} `json:"largeCommunity"`
	NextHops []struct {
		IP    string `json:"ip"`
		Scope string `json:"scope"`
	} `json:"nexthops"`
	Peer *struct {
		PeerID string `json:"peerId"`
	} `json:"peer"`
}

func (j jsonPath) path() Path {
	p := Path{Valid: j.Valid, Multipath: j.Multipath, LocalPref: j.LocPrf, Best: j.Bestpath != nil && j.Bestpath.Overall}
	if j.ASPath != nil {
		p.ASPath = j.ASPath.String
	}
	if j.Community != nil {
		p.Communities = strings.Fields(j.Community.String)
	}
	if j.LargeCommunity != nil {
		p.Large = strings.Fields(j.LargeCommunity.String)
	}
	for _, nh := range j.NextHops {
		if a, err := netip.ParseAddr(nh.IP); err == nil && nh.Scope != "link-local" {
			p.NextHops = append(p.NextHops, a)
		}
	}
	if j.Peer != nil {
		p.PeerAddress, _ = netip.ParseAddr(j.Peer.PeerID)
	}
	return p
}

func afi(p netip.Prefix) string {
	if p.Addr().Is4() {
		return "ipv4"
	}
	return "ipv6"
}

// Paths returns the paths FRR holds for exactly pfx (none if absent).
func (r *Router) Paths(ctx context.Context, pfx netip.Prefix) ([]Path, error) {
	var out struct {
		Prefix string     `json:"prefix"`
		Paths  []jsonPath `json:"paths"`
	}
	if err := r.JSON(ctx, fmt.Sprintf("show bgp %s unicast %s json", afi(pfx), pfx), &out); err != nil {
		return nil, err
	}
	if out.Prefix != pfx.String() {
		return nil, nil
	}
	paths := make([]Path, len(out.Paths))
	for i, j := range out.Paths {
		paths[i] = j.path()
	}
	return paths, nil
}

// Routes returns every prefix of a family ("ipv4" or "ipv6") with its
// paths. Use Summary for counting: this dumps the whole table.
func (r *Router) Routes(ctx context.Context, family string) (map[netip.Prefix][]Path, error) {
	var out struct {
		Routes map[string][]jsonPath `json:"routes"`
	}
	if err := r.JSON(ctx, fmt.Sprintf("show bgp %s unicast json", family), &out); err != nil {
		return nil, err
	}
	m := make(map[netip.Prefix][]Path, len(out.Routes))
	for k, js := range out.Routes {
		pfx, err := netip.ParsePrefix(k)
		if err != nil {
			continue
		}
		for _, j := range js {
			m[pfx] = append(m[pfx], j.path())
		}
	}
	return m, nil
}

// PeerSummary is one neighbor in "show bgp summary".
type PeerSummary struct {
	State  string `json:"state"`
	PfxRcd int    `json:"pfxRcd"`
	PfxSnt int    `json:"pfxSnt"`
}

// Summary returns the neighbors of a family ("ipv4" or "ipv6"), by address.
func (r *Router) Summary(ctx context.Context, family string) (map[netip.Addr]PeerSummary, error) {
	var out struct {
		Peers map[string]PeerSummary `json:"peers"`
	}
	if err := r.JSON(ctx, fmt.Sprintf("show bgp %s unicast summary json", family), &out); err != nil {
		return nil, err
	}
	m := make(map[netip.Addr]PeerSummary, len(out.Peers))
	for k, v := range out.Peers {
		if a, err := netip.ParseAddr(k); err == nil {
			m[a] = v
		}
	}
	return m, nil
}

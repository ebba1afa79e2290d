package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lbkit/lbkit/internal/netlab"
	"github.com/lbkit/lbkit/membership"
)

var (
	l2VIP4 = netip.MustParseAddr("192.0.2.200")
	l2VIP6 = netip.MustParseAddr("2001:db8:1::200") // replaced by pickL2VIP6
)

// pickL2VIP6 picks an IPv6 VIP that the election ranks like l2VIP4 over
// nodes, so that every trial moves both and measures ARP and NDP at once.
func pickL2VIP6(nodes []string) netip.Addr {
	want := membership.Rank(l2VIP4, nodes)
	for i := 0x200; i <= 0x250; i++ {
		v := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 14: byte(i >> 8), 15: byte(i)})
		if slices.Equal(membership.Rank(v, nodes), want) {
			return v
		}
	}
	return l2VIP6
}

const l2Port = 8080

// l2Cluster runs the l2speaker binary on every node of a lab.
type l2Cluster struct {
	bin    string
	lab    *netlab.Lab
	client *netlab.Host
	procs  map[string]*netlab.Process
	runs   int
}

func (c *l2Cluster) start(ctx context.Context, h *netlab.Host) error {
	var peers []string
	for _, n := range c.lab.Nodes() {
		if n != h {
			peers = append(peers, netip.AddrPortFrom(n.IPv4, 7946).String())
		}
	}
	c.runs++
	p, err := h.Start(ctx, fmt.Sprintf("speaker-%s-%d.log", h.Name, c.runs), c.bin,
		"-name", h.Name, "-bind", netip.AddrPortFrom(h.IPv4, 7946).String(), "-peers", strings.Join(peers, ","),
		"-vips", l2VIP4.String()+","+l2VIP6.String(), "-iface", h.Iface, "-http", fmt.Sprintf(":%d", l2Port))
	if err != nil {
		return err
	}
	c.procs[h.Name] = p
	return nil
}

type l2Status struct {
	Alive  []string          `json:"alive"`
	Owners map[string]string `json:"owners"`
}

func l2GetStatus(h *netlab.Host) (l2Status, error) {
	var s l2Status
	hc := http.Client{Timeout: time.Second, Transport: &http.Transport{DialContext: h.DialContext, DisableKeepAlives: true}}
	resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/status", l2Port))
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

// converge waits until every node reports all nodes alive and the same
// owners, and returns the owner of each VIP.
func (c *l2Cluster) converge(ctx context.Context, bound time.Duration) (map[string]string, error) {
	var names []string
	for _, n := range c.lab.Nodes() {
		names = append(names, n.Name)
	}
	var last error
	for deadline := time.Now().Add(bound); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(100 * time.Millisecond) {
		var owners map[string]string
		last = nil
		for _, n := range c.lab.Nodes() {
			s, err := l2GetStatus(n)
			if err != nil {
				last = err
				break
			}
			if !slices.Equal(s.Alive, names) || len(s.Owners) != 2 || (owners != nil && fmt.Sprint(owners) != fmt.Sprint(s.Owners)) {
				last = fmt.Errorf("%s: alive %v owners %v", n.Name, s.Alive, s.Owners)
				break
			}
			owners = s.Owners
		}
		if last == nil {
			return owners, nil
		}
	}
	return nil, fmt.Errorf("l2 cluster did not converge: %v", last)
}

type l2Trial struct {
	outage4, outage6 time.Duration
	lost             int
}

// l2Trial kills (crash) or stops (SIGTERM) the owner of the VIPs while the
// client probes both, then brings the node back.
func (c *l2Cluster) trial(ctx context.Context, log *slog.Logger, crash bool) (l2Trial, error) {
	owners, err := c.converge(ctx, 20*time.Second)
	if err != nil {
		return l2Trial{}, err
	}
	// Both VIPs may have different owners; fail the owner of the v4 VIP
	// and measure both (the v6 one may not move at all).
	victim := owners[l2VIP4.String()]
	for _, v := range []netip.Addr{l2VIP4, l2VIP6} {
		if !l2WaitReachable(ctx, c.client, netip.AddrPortFrom(v, l2Port), 10*time.Second) {
			return l2Trial{}, fmt.Errorf("client cannot reach %v before the trial", v)
		}
	}
	p4 := startL2Prober(c.client, netip.AddrPortFrom(l2VIP4, l2Port), 10*time.Millisecond, 200*time.Millisecond)
	p6 := startL2Prober(c.client, netip.AddrPortFrom(l2VIP6, l2Port), 10*time.Millisecond, 200*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	proc := c.procs[victim]
	if crash {
		if err := c.lab.CutLink(victim); err != nil {
			return l2Trial{}, err
		}
		proc.Kill()
	} else {
		proc.Signal(syscall.SIGTERM)
		if err := proc.Wait(15 * time.Second); err != nil {
			log.Warn("speaker did not exit cleanly", "node", victim, "err", err)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	o4, l4, _ := p4.finish()
	o6, l6, _ := p6.finish()
	if crash {
		if err := c.lab.RestoreLink(victim); err != nil {
			return l2Trial{}, err
		}
	}
	if err := c.start(ctx, c.lab.Host(victim)); err != nil {
		return l2Trial{}, err
	}
	return l2Trial{outage4: o4, outage6: o6, lost: l4 + l6}, nil
}

package l2

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/ndp"
	"github.com/mdlayher/packet"
)

// allNodes is ff02::1, where unsolicited Neighbor Advertisements go.
var allNodes = netip.MustParseAddr("ff02::1")

// runner is the state of one Run call; only the Run goroutine touches its
// fields, the per-link goroutines read link.owned.
type runner struct {
	a     *Announcer
	ctx   context.Context
	wg    sync.WaitGroup
	links map[int]*link
}

// link is one interface the announcer answers on.
type link struct {
	Link
	ctx    context.Context
	cancel context.CancelFunc
	arp    net.PacketConn
	ndp    NDPConn   // nil when IPv6 is not usable on the link
	ndpErr bool      // the last ListenNDP failed
	ndpTry time.Time // when ListenNDP was last tried
	// owned is the set answered for, replaced (never mutated) by the Run
	// goroutine and read by the readers.
	owned  atomic.Pointer[map[netip.Addr]struct{}]
	groups map[netip.Addr]int // joined solicited-node groups, refcounted
	failed atomic.Bool        // a reader stopped on an error
}

func (l *link) owns(ip netip.Addr) bool {
	m := l.owned.Load()
	if m == nil {
		return false
	}
	_, ok := (*m)[ip]
	return ok
}

func (l *link) close() {
	l.cancel()
	l.arp.Close()
	if l.ndp != nil {
		l.ndp.Close()
	}
}

// refresh lists the interfaces, opens and closes sockets, and brings every
// link's answer set, multicast groups and gratuitous bursts up to date.
func (r *runner) refresh() {
	a := r.a
	list, err := a.cfg.Links()
	if err != nil {
		a.log.Warn("listing interfaces", "err", err)
		return
	}
	services, reannounce := a.snapshot()
	want := make(map[int]map[netip.Addr]struct{})
	byIndex := make(map[int]Link, len(list))
	for _, l := range list {
		byIndex[l.Index] = l
		for _, s := range services {
			if len(s.addrs) == 0 || !a.allowed(s, l) {
				continue
			}
			m := want[l.Index]
			if m == nil {
				m = make(map[netip.Addr]struct{})
				want[l.Index] = m
			}
			for _, ip := range s.addrs {
				m[ip] = struct{}{}
			}
		}
	}
	// Drop links that vanished, changed, failed or have nothing to answer.
	for idx, l := range r.links {
		cur, ok := byIndex[idx]
		if !ok || want[idx] == nil || l.failed.Load() || cur.Name != l.Name || !bytes.Equal(cur.HardwareAddr, l.HardwareAddr) {
			a.log.Debug("closing interface", "iface", l.Name)
			l.close()
			delete(r.links, idx)
		}
	}
	for idx, addrs := range want {
		l := r.links[idx]
		if l == nil {
			if l = r.open(byIndex[idx]); l == nil {
				continue
			}
		}
		// A failed NDP socket (no link-local address yet, IPv6 off) is
		// retried once per poll interval, not on every Announce.
		if l.ndp == nil && hasIPv6(addrs) && (!l.ndpErr || time.Since(l.ndpTry) >= a.cfg.InterfacePoll) {
			r.openNDP(l)
		}
		if reannounce {
			for ip := range *l.owned.Load() {
				if _, keep := addrs[ip]; keep {
					r.burst(l, ip)
				}
			}
		}
		r.update(l, addrs)
	}
}

func hasIPv6(m map[netip.Addr]struct{}) bool {
	for ip := range m {
		if ip.Is6() {
			return true
		}
	}
	return false
}

func (r *runner) open(info Link) *link {
	a := r.a
	pc, err := a.cfg.Sockets.ListenARP(info)
	if err != nil {
		a.log.Warn("opening ARP socket", "iface", info.Name, "err", err)
		return nil
	}
	ctx, cancel := context.WithCancel(r.ctx)
	l := &link{Link: info, ctx: ctx, cancel: cancel, arp: pc, groups: make(map[netip.Addr]int)}
	empty := map[netip.Addr]struct{}{}
	l.owned.Store(&empty)
	r.links[info.Index] = l
	a.log.Info("answering on interface", "iface", info.Name, "mac", info.HardwareAddr.String())
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.readARP(l)
	}()
	return l
}

func (r *runner) openNDP(l *link) {
	a := r.a
	l.ndpTry = time.Now()
	c, err := a.cfg.Sockets.ListenNDP(l.Link)
	if err != nil {
		if !l.ndpErr {
			a.log.Info("no NDP on interface yet", "iface", l.Name, "err", err)
		}
		l.ndpErr = true
		return
	}
	l.ndpErr = false
	l.ndp = c
	l.groups = make(map[netip.Addr]int)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		r.readNDP(l)
	}()
	// IPv6 addresses owned before the socket existed had no announcement.
	for ip := range *l.owned.Load() {
		if ip.Is6() {
			r.burst(l, ip)
		}
	}
}

// update makes l answer for exactly addrs, joining and leaving multicast
// groups and starting a gratuitous burst for each newly owned address.
func (r *runner) update(l *link, addrs map[netip.Addr]struct{}) {
	a := r.a
	old := *l.owned.Load()
	// Join groups before answering so no solicitation is missed.
	groups := make(map[netip.Addr]int)
	for ip := range addrs {
		if ip.Is6() {
			if g, err := ndp.SolicitedNodeMulticast(ip); err == nil {
				groups[g]++
			}
		}
	}
	if l.ndp != nil {
		for g := range groups {
			if l.groups[g] == 0 {
				if err := l.ndp.JoinGroup(g); err != nil {
					a.stats.errors.Add(1)
					a.log.Warn("joining solicited-node group", "iface", l.Name, "group", g, "err", err)
				}
			}
		}
	}
	l.owned.Store(&addrs)
	if l.ndp != nil {
		for g := range l.groups {
			if groups[g] == 0 {
				if err := l.ndp.LeaveGroup(g); err != nil {
					a.log.Debug("leaving solicited-node group", "iface", l.Name, "group", g, "err", err)
				}
			}
		}
		l.groups = groups
	}
	for ip := range addrs {
		if _, had := old[ip]; !had {
			a.log.Info("announcing", "addr", ip, "iface", l.Name)
			r.burst(l, ip)
		}
	}
	for ip := range old {
		if _, keep := addrs[ip]; !keep {
			a.log.Info("withdrawn", "addr", ip, "iface", l.Name)
		}
	}
}

// burst sends GratuitousCount rounds of gratuitous ARP or unsolicited NA
// for ip on l, the first at once, while l still owns ip.
func (r *runner) burst(l *link, ip netip.Addr) {
	n := r.a.cfg.GratuitousCount
	if n <= 0 {
		return
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTimer(0)
		defer t.Stop()
		for i := 0; i < n; i++ {
			select {
			case <-l.ctx.Done():
				return
			case <-t.C:
			}
			if !l.owns(ip) {
				return
			}
			r.gratuitous(l, ip)
			t.Reset(r.a.cfg.GratuitousInterval)
		}
	}()
}

func (r *runner) gratuitous(l *link, ip netip.Addr) {
	a := r.a
	if ip.Is4() {
		req, rep, err := gratuitousARP(l.HardwareAddr, ip)
		if err != nil {
			a.stats.errors.Add(1)
			return
		}
		for _, f := range [][]byte{req, rep} {
			if _, err := l.arp.WriteTo(f, &packet.Addr{HardwareAddr: ethernet.Broadcast}); err != nil {
				a.stats.errors.Add(1)
				a.log.Debug("sending gratuitous ARP", "iface", l.Name, "err", err)
				continue
			}
			a.stats.gratuitousARP.Add(1)
		}
		return
	}
	if l.ndp == nil {
		return
	}
	if err := l.ndp.WriteTo(advertisement(ip, l.HardwareAddr, false), nil, allNodes); err != nil {
		a.stats.errors.Add(1)
		a.log.Debug("sending unsolicited NA", "iface", l.Name, "err", err)
		return
	}
	a.stats.unsolicitedNA.Add(1)
}

func advertisement(ip netip.Addr, mac net.HardwareAddr, solicited bool) *ndp.NeighborAdvertisement {
	return &ndp.NeighborAdvertisement{
		Solicited:     solicited,
		Override:      true,
		TargetAddress: ip,
		Options:       []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Target, Addr: mac}},
	}
}

// readerStopped records a reader's exit on error and asks for a refresh.
func (r *runner) readerStopped(l *link, what string, err error) {
	if l.ctx.Err() != nil {
		return
	}
	r.a.log.Warn("reading "+what, "iface", l.Name, "err", err)
	l.failed.Store(true)
	r.a.wake()
}

func (r *runner) readARP(l *link) {
	a := r.a
	buf := make([]byte, 1600)
	for {
		n, _, err := l.arp.ReadFrom(buf)
		if err != nil {
			r.readerStopped(l, "ARP", err)
			return
		}
		req, err := parseARPRequest(buf[:n])
		if err != nil || bytes.Equal(req.srcMAC, l.HardwareAddr) || req.senderIP == req.targetIP {
			continue // not a request, our own frame, or someone's announcement
		}
		a.stats.arpRequests.Add(1)
		if !l.owns(req.targetIP) {
			continue
		}
		f, err := arpReply(req, l.HardwareAddr, req.targetIP)
		if err == nil {
			_, err = l.arp.WriteTo(f, &packet.Addr{HardwareAddr: req.srcMAC})
		}
		if err != nil {
			a.stats.errors.Add(1)
			a.log.Debug("sending ARP reply", "iface", l.Name, "err", err)
			continue
		}
		a.stats.arpReplies.Add(1)
	}
}

func (r *runner) readNDP(l *link) {
	a := r.a
	for {
		m, cm, src, err := l.ndp.ReadFrom()
		if err != nil {
			r.readerStopped(l, "NDP", err)
			return
		}
		ns, ok := m.(*ndp.NeighborSolicitation)
		if !ok || (cm != nil && cm.HopLimit != 0 && cm.HopLimit != ndp.HopLimit) {
			continue // RFC 4861 7.1.1: hop limit must be 255
		}
		a.stats.ndpSolicitations.Add(1)
		if !l.owns(ns.TargetAddress) {
			continue
		}
		dst, solicited := src, true
		if src.IsUnspecified() { // duplicate address detection: answer all nodes
			dst, solicited = allNodes, false
		}
		if err := l.ndp.WriteTo(advertisement(ns.TargetAddress, l.HardwareAddr, solicited), nil, dst); err != nil {
			a.stats.errors.Add(1)
			a.log.Debug("sending NA", "iface", l.Name, "err", err)
			continue
		}
		a.stats.ndpAdvertisements.Add(1)
	}
}

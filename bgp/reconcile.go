package bgp

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/lbkit/lbkit/announce"
)

// op is one change to one session's RIB.
type op struct {
	sess     *session
	pfx      netip.Prefix
	attrs    attrs
	nh       netip.Addr
	withdraw bool
}

// reconcile brings the sessions and their RIBs to the desired state. It
// runs on Run's goroutine only.
func (s *Speaker) reconcile(ctx context.Context) {
	s.mu.Lock()
	gen := s.wantGen
	var peers map[string]announce.BGPPeer
	if s.peersChanged {
		peers = s.peers
		s.peersChanged = false
	}
	dirty := s.dirty
	s.dirty = make(map[netip.Prefix]struct{})
	s.mu.Unlock()

	if peers != nil {
		s.syncSessions(ctx, peers)
	}
	s.checkSessions(ctx)

	s.mu.Lock()
	var ops []op
	for _, p := range s.sessions { // only Run writes the map: reading is safe
		if !p.started {
			continue
		}
		if p.needFull {
			p.needFull = false
			for pfx := range s.prefixes {
				ops = s.diffLocked(ops, p, pfx)
			}
			for pfx := range p.applied {
				if _, ok := s.prefixes[pfx]; !ok {
					ops = s.diffLocked(ops, p, pfx)
				}
			}
			continue
		}
		for pfx := range dirty {
			ops = s.diffLocked(ops, p, pfx)
		}
	}
	s.mu.Unlock()

	for _, o := range ops {
		var err error
		if o.withdraw {
			err = o.sess.withdraw(ctx, o.pfx)
		} else {
			err = o.sess.advertise(ctx, o.pfx, o.attrs, o.nh)
		}
		if err != nil {
			s.cfg.Logger.Error("cannot update the RIB", "peer", o.sess.name, "error", err)
			o.sess.sink.setErr(err.Error())
			o.sess.needFull = true
		}
	}

	s.statusMu.Lock()
	for _, p := range s.sessions {
		p.st.PrefixesSent = len(p.applied)
	}
	s.statusMu.Unlock()

	s.mu.Lock()
	if gen > s.doneGen {
		s.doneGen = gen
		close(s.applied)
		s.applied = make(chan struct{})
	}
	s.mu.Unlock()
}

// diffLocked appends the op that brings pfx on p to the desired state, if
// any. s.mu is held.
func (s *Speaker) diffLocked(ops []op, p *session, pfx netip.Prefix) []op {
	var want attrs
	found := false
	for svc := range s.prefixes[pfx] {
		for _, c := range s.services[svc] {
			if c.prefix == pfx && c.wants(p.name) {
				found = true
				want.add(c, p.ibgp)
			}
		}
	}
	nh, carried := p.carries(pfx)
	have, had := p.applied[pfx]
	switch {
	case found && carried && (!had || !have.equal(want)):
		return append(ops, op{sess: p, pfx: pfx, attrs: want, nh: nh})
	case (!found || !carried) && had:
		return append(ops, op{sess: p, pfx: pfx, withdraw: true})
	}
	return ops
}

// syncSessions opens, reopens and closes sessions to match peers.
func (s *Speaker) syncSessions(ctx context.Context, peers map[string]announce.BGPPeer) {
	for name, p := range s.sessions {
		if np, ok := peers[name]; ok && np == p.peer && p.started {
			continue
		}
		s.closeSession(ctx, p)
	}
	for name, peer := range peers {
		if _, ok := s.sessions[name]; ok {
			continue
		}
		var eng *engine
		if n := len(s.idle); n > 0 {
			eng, s.idle = s.idle[n-1], s.idle[:n-1]
		} else {
			eng = newEngine(&gobgpLogger{log: s.cfg.Logger})
		}
		p := &session{name: name, peer: peer, ibgp: internal(peer), eng: eng}
		p.st = PeerStatus{Name: name, Address: peer.Address, State: StateIdle, PeerASN: peer.ASN}
		err := p.start(ctx, func(ev *api.WatchEventResponse_PeerEvent) { s.onEvent(p, ev) })
		if err != nil {
			s.cfg.Logger.Error("cannot open session", "peer", name, "error", err)
			p.sink.setErr(err.Error())
		} else {
			p.started = true
			s.cfg.Logger.Info("session configured", "peer", name, "address", peer.Address, "asn", peer.ASN, "my_asn", peer.MyASN)
		}
		s.statusMu.Lock()
		s.sessions[name] = p
		s.statusMu.Unlock()
	}
}

func (s *Speaker) closeSession(ctx context.Context, p *session) {
	if p.started {
		p.stop(ctx)
	}
	s.idle = append(s.idle, p.eng)
	s.statusMu.Lock()
	delete(s.sessions, p.name)
	s.statusMu.Unlock()
	s.cfg.Logger.Info("session closed", "peer", p.name)
}

// checkSessions retries sessions that could not be configured, holds
// down dynamic peers of the wrong kind and finds the other family's next
// hop of dual-stack sessions once they are up.
func (s *Speaker) checkSessions(ctx context.Context) {
	for _, p := range s.sessions {
		if !p.started {
			if err := p.start(ctx, func(ev *api.WatchEventResponse_PeerEvent) { s.onEvent(p, ev) }); err == nil {
				p.started = true
			} else {
				p.sink.setErr(err.Error())
			}
			continue
		}
		s.statusMu.Lock()
		st := p.st
		s.statusMu.Unlock()
		if !st.Established() {
			continue
		}
		if p.peer.Dynamic != "" && !p.rejected && st.PeerASN != 0 {
			ibgp := st.PeerASN == p.peer.MyASN
			if ibgp != (p.peer.Dynamic == announce.DynamicInternal) {
				p.rejected = true
				msg := fmt.Sprintf("peer AS %d is not %s to AS %d", st.PeerASN, p.peer.Dynamic, p.peer.MyASN)
				p.sink.held.Store(&msg)
				_ = p.eng.srv.DisablePeer(ctx, &api.DisablePeerRequest{Address: p.peer.Address.String(), Communication: msg})
				s.cfg.Logger.Warn("dynamic peer of the wrong kind, session held down", "peer", p.name, "reason", msg)
			}
		}
		if p.peer.DualStack && !p.crossNH.IsValid() && st.LocalAddress.IsValid() {
			nh, err := findCrossNextHop(st.LocalAddress)
			if err != nil {
				p.sink.setErr("dual stack: " + err.Error())
				continue
			}
			p.crossNH = nh
			p.needFull = true
		}
	}
}

// shutdown is the planned stop (RFC 8326): mark every route with
// GRACEFUL_SHUTDOWN so that routers prefer other paths, wait, withdraw,
// close.
func (s *Speaker) shutdown(ctx context.Context) {
	marked := 0
	if s.cfg.GracefulShutdownDelay > 0 {
		for _, p := range s.sessions {
			s.statusMu.Lock()
			up := p.st.Established()
			s.statusMu.Unlock()
			if !p.started || !up {
				continue
			}
			for pfx, a := range p.applied {
				nh, _ := p.carries(pfx)
				if err := p.advertise(ctx, pfx, a.withCommunity(announce.GracefulShutdown), nh); err == nil {
					marked++
				}
			}
		}
	}
	if marked > 0 {
		s.cfg.Logger.Info("graceful shutdown: routes marked, waiting", "routes", marked, "delay", s.cfg.GracefulShutdownDelay)
		t := time.NewTimer(s.cfg.GracefulShutdownDelay)
		<-t.C
	}
	for _, p := range s.sessions {
		if !p.started {
			continue
		}
		for pfx := range p.applied {
			_ = p.withdraw(ctx, pfx)
		}
	}
	for _, p := range s.sessions {
		s.closeSession(ctx, p)
	}
	s.cfg.Logger.Info("stopped")
}

package bgp

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/lbkit/lbkit/announce"
)

// engine is one embedded GoBGP server. GoBGP's Serve loop never returns,
// so a Speaker keeps stopped engines and reuses them for later sessions
// rather than leaking one goroutine per session ever configured.
type engine struct {
	srv *server.BgpServer
	log *gobgpLogger
}

func newEngine(log *gobgpLogger) *engine {
	e := &engine{log: log}
	e.srv = server.NewBgpServer(server.LoggerOption(log))
	go e.srv.Serve()
	return e
}

// session is one BGP session, on an engine of its own: its own router ID,
// ASN and RIB, so that a route meant for a subset of peers is never in the
// RIB of a session it is not meant for. Its fields are owned by the
// Speaker's Run goroutine, except st (Speaker.statusMu) and sink (atomic).
type session struct {
	name string
	peer announce.BGPPeer
	ibgp bool
	eng  *engine
	sink *statusSink

	stopWatch context.CancelFunc
	// applied is what the engine's RIB holds for this session.
	applied map[netip.Prefix]attrs
	// needFull asks the next reconcile to compare every prefix.
	needFull bool
	// started is false while the engine could not be configured.
	started bool
	// rejected is set once a dynamic peer turned out to be of the wrong
	// kind; the session is then held down.
	rejected bool
	// crossNH is the next hop for the family other than the session's own
	// (DualStack), found on the interface of the local address.
	crossNH netip.Addr

	st PeerStatus // guarded by Speaker.statusMu
}

func (p *session) families() []*api.Family {
	v4 := &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}
	v6 := &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}
	switch {
	case p.peer.DualStack:
		return []*api.Family{v4, v6}
	case p.peer.Address.Is4():
		return []*api.Family{v4}
	default:
		return []*api.Family{v6}
	}
}

// carries reports whether the session can advertise pfx now, and with
// which explicit next hop (invalid: the session's local address).
func (p *session) carries(pfx netip.Prefix) (netip.Addr, bool) {
	if pfx.Addr().Is4() == p.peer.Address.Is4() {
		return netip.Addr{}, true
	}
	if !p.peer.DualStack || !p.crossNH.IsValid() {
		return netip.Addr{}, false
	}
	return p.crossNH, true
}

func (p *session) apiPeer() *api.Peer {
	pr := p.peer
	ap := &api.Peer{
		Conf: &api.PeerConf{
			NeighborAddress: pr.Address.String(),
			PeerAsn:         pr.ASN,
			AuthPassword:    pr.Password,
			Description:     pr.Name,
		},
		Timers: &api.Timers{Config: &api.TimersConfig{
			ConnectRetry:           seconds(pr.ConnectTime),
			HoldTime:               seconds(pr.HoldTime),
			KeepaliveInterval:      seconds(pr.KeepaliveTime),
			IdleHoldTimeAfterReset: seconds(pr.ConnectTime),
		}},
		Transport: &api.Transport{
			RemotePort:    uint32(pr.Port),
			BindInterface: pr.VRF,
		},
	}
	if pr.SourceAddress.IsValid() {
		ap.Transport.LocalAddress = pr.SourceAddress.String()
	}
	if pr.EBGPMultiHop {
		ap.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: 255}
	}
	if pr.GracefulRestart {
		ap.GracefulRestart = &api.GracefulRestart{Enabled: true, RestartTime: uint32(DefaultRestartTime / time.Second)}
	}
	for _, f := range p.families() {
		as := &api.AfiSafi{Config: &api.AfiSafiConfig{Family: f, Enabled: true}}
		if pr.GracefulRestart {
			as.MpGracefulRestart = &api.MpGracefulRestart{Config: &api.MpGracefulRestartConfig{Enabled: true}}
		}
		ap.AfiSafis = append(ap.AfiSafis, as)
	}
	return ap
}

// start configures the engine for the session and starts connecting.
// onEvent is called from a GoBGP goroutine for every session event.
func (p *session) start(ctx context.Context, onEvent func(*api.WatchEventResponse_PeerEvent)) error {
	if p.sink == nil {
		p.sink = &statusSink{peer: p.name}
	}
	p.eng.log.sink.Store(p.sink)
	err := p.eng.srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn:        p.peer.MyASN,
		RouterId:   p.peer.RouterID.String(),
		ListenPort: -1, // sessions are outgoing only, as in MetalLB
	}})
	if err != nil {
		return fmt.Errorf("bgp: peer %s: start: %w", p.name, err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	p.stopWatch = cancel
	err = p.eng.srv.WatchEvent(wctx, &api.WatchEventRequest{Peer: &api.WatchEventRequest_Peer{}}, func(r *api.WatchEventResponse) {
		if ev := r.GetPeer(); ev != nil {
			onEvent(ev)
		}
	})
	if err == nil {
		err = p.eng.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: p.apiPeer()})
	}
	if err != nil {
		p.stop(ctx)
		return fmt.Errorf("bgp: peer %s: %w", p.name, err)
	}
	p.applied = make(map[netip.Prefix]attrs)
	p.needFull = true
	return nil
}

// stop closes the session (a Cease NOTIFICATION, which makes the peer drop
// every route at once) and leaves the engine ready for reuse.
func (p *session) stop(ctx context.Context) {
	_ = p.eng.srv.StopBgp(ctx, &api.StopBgpRequest{})
	if p.stopWatch != nil {
		p.stopWatch()
	}
	p.eng.log.sink.Store(nil)
	p.applied = nil
}

func (p *session) advertise(ctx context.Context, pfx netip.Prefix, a attrs, nh netip.Addr) error {
	path, err := newPath(pfx, a, nh, false)
	if err == nil {
		_, err = p.eng.srv.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: path})
	}
	if err != nil {
		return fmt.Errorf("bgp: peer %s: advertise %s: %w", p.name, pfx, err)
	}
	p.applied[pfx] = a
	return nil
}

func (p *session) withdraw(ctx context.Context, pfx netip.Prefix) error {
	path, err := newPath(pfx, p.applied[pfx], netip.Addr{}, true)
	if err == nil {
		err = p.eng.srv.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: family(pfx), Path: path})
	}
	if err != nil {
		return fmt.Errorf("bgp: peer %s: withdraw %s: %w", p.name, pfx, err)
	}
	delete(p.applied, pfx)
	return nil
}

// findCrossNextHop returns an address of the other family than local on
// the interface that holds local: the next hop this node gives for the
// other family on a dual-stack session.
func findCrossNextHop(local netip.Addr) (netip.Addr, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return netip.Addr{}, err
	}
	for _, ifi := range ifs {
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		var has bool
		var cand netip.Addr
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if ip == local {
				has = true
			} else if ip.Is4() != local.Is4() && ip.IsGlobalUnicast() && !cand.IsValid() {
				cand = ip
			}
		}
		if has {
			if !cand.IsValid() {
				return netip.Addr{}, fmt.Errorf("interface %s has no address of the other family than %s", ifi.Name, local)
			}
			return cand, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("no interface holds %s", local)
}

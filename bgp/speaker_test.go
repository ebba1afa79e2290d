package bgp

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/apiutil"
	bgppkt "github.com/osrg/gobgp/v3/pkg/packet/bgp"
	"github.com/osrg/gobgp/v3/pkg/server"

	"github.com/lbkit/lbkit/announce"
)

// receiver is a plain GoBGP router on loopback that a Speaker peers with.
type receiver struct {
	srv  *server.BgpServer
	port uint16
}

func freePort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

func newReceiver(t *testing.T, asn, peerASN uint32) *receiver {
	t.Helper()
	r := &receiver{srv: server.NewBgpServer(server.LoggerOption(&gobgpLogger{log: slog.New(slog.DiscardHandler)})), port: freePort(t)}
	go r.srv.Serve()
	ctx := context.Background()
	err := r.srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: asn, RouterId: "10.255.0.1", ListenPort: int32(r.port), ListenAddresses: []string{"127.0.0.1"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.srv.StopBgp(context.Background(), &api.StopBgpRequest{}) })
	err = r.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: "127.0.0.1", PeerAsn: peerASN},
		Transport: &api.Transport{PassiveMode: true},
		Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: 9, KeepaliveInterval: 3}},
		AfiSafis: []*api.AfiSafi{
			{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}, Enabled: true}},
			{Config: &api.AfiSafiConfig{Family: &api.Family{Afi: api.Family_AFI_IP6, Safi: api.Family_SAFI_UNICAST}, Enabled: true}},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// route is what the receiver holds for one prefix.
type route struct {
	nextHop     string
	localPref   uint32
	communities []uint32
	large       [][3]uint32
}

func (r *receiver) routes(t *testing.T) map[netip.Prefix]route {
	t.Helper()
	out := make(map[netip.Prefix]route)
	for _, f := range []api.Family_Afi{api.Family_AFI_IP, api.Family_AFI_IP6} {
		err := r.srv.ListPath(context.Background(), &api.ListPathRequest{
			TableType: api.TableType_GLOBAL, Family: &api.Family{Afi: f, Safi: api.Family_SAFI_UNICAST},
		}, func(d *api.Destination) {
			pfx, err := netip.ParsePrefix(d.Prefix)
			if err != nil || len(d.Paths) == 0 {
				return
			}
			attrs, err := apiutil.GetNativePathAttributes(d.Paths[0])
			if err != nil {
				t.Error(err)
				return
			}
			var rt route
			for _, a := range attrs {
				switch a := a.(type) {
				case *bgppkt.PathAttributeNextHop:
					rt.nextHop = a.Value.String()
				case *bgppkt.PathAttributeMpReachNLRI:
					rt.nextHop = a.Nexthop.String()
				case *bgppkt.PathAttributeLocalPref:
					rt.localPref = a.Value
				case *bgppkt.PathAttributeCommunities:
					rt.communities = a.Value
				case *bgppkt.PathAttributeLargeCommunities:
					for _, l := range a.Values {
						rt.large = append(rt.large, [3]uint32{l.ASN, l.LocalData1, l.LocalData2})
					}
				}
			}
			out[pfx] = rt
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// eventually polls cond every 20 ms for at most 30 s: a bound on a test
// that would otherwise hang, not a timed assertion.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 1500; i++ {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

type runningSpeaker struct {
	*Speaker
	cancel context.CancelFunc
	done   chan error
}

func startSpeaker(t *testing.T, cfg Config) *runningSpeaker {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger(t)
	}
	sp, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs := &runningSpeaker{Speaker: sp, cancel: cancel, done: make(chan error, 1)}
	go func() { rs.done <- sp.Run(ctx) }()
	t.Cleanup(func() { rs.stop(t) })
	return rs
}

func (rs *runningSpeaker) stop(t *testing.T) {
	rs.cancel()
	select {
	case err, ok := <-rs.done:
		if ok && err != nil {
			t.Errorf("Run: %v", err)
		}
		close(rs.done)
	case <-time.After(30 * time.Second):
		t.Error("Run did not return")
	}
}

func loopPeer(name string, myASN, asn uint32, port uint16) announce.BGPPeer {
	return announce.BGPPeer{
		Name: name, MyASN: myASN, ASN: asn, Address: netip.MustParseAddr("127.0.0.1"), Port: port,
		HoldTime: 9 * time.Second, KeepaliveTime: 3 * time.Second, ConnectTime: time.Second,
	}
}

func statusOf(sp *Speaker, name string) PeerStatus {
	for _, st := range sp.Status() {
		if st.Name == name {
			return st
		}
	}
	return PeerStatus{}
}

func mustCommunity(t *testing.T, s string) announce.Community {
	c, err := announce.ParseCommunity(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSpeakerAdvertisesToPeers(t *testing.T) {
	t.Parallel()
	ibgp := newReceiver(t, 64512, 64512)
	ebgp := newReceiver(t, 64500, 64512)
	sp := startSpeaker(t, Config{RouterID: netip.MustParseAddr("10.0.0.11"), GracefulShutdownDelay: 3 * time.Second})
	ctx := context.Background()
	if err := sp.SetPeers(ctx, []announce.BGPPeer{loopPeer("ibgp", 64512, 64512, ibgp.port), loopPeer("ebgp", 64512, 64500, ebgp.port)}); err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParsePrefix("203.0.113.10/32")
	agg := netip.MustParsePrefix("203.0.113.0/24")
	err := sp.Announce(ctx, announce.Announcement{
		Service:   "ns/web",
		Addresses: []netip.Addr{vip.Addr(), netip.MustParseAddr("2001:db8:100::10")},
		BGP: []announce.BGPAdvertisement{{
			LocalPref:   200,
			Communities: []announce.Community{mustCommunity(t, "64500:100"), mustCommunity(t, "large:64500:1:2"), mustCommunity(t, "no-export")},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = sp.Announce(ctx, announce.Announcement{
		Service:   "ns/subset",
		Addresses: []netip.Addr{netip.MustParseAddr("203.0.113.20")},
		BGP:       []announce.BGPAdvertisement{{AggregationLength: 24, Peers: []string{"ibgp"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "both receivers to hold the /32", func() bool {
		_, a := ibgp.routes(t)[vip]
		_, b := ebgp.routes(t)[vip]
		return a && b
	})
	eventually(t, "the aggregate at the iBGP receiver", func() bool { _, ok := ibgp.routes(t)[agg]; return ok })

	got := ibgp.routes(t)[vip]
	want := route{nextHop: "127.0.0.1", localPref: 200, communities: []uint32{64500<<16 | 100, 0xFFFFFF01}, large: [][3]uint32{{64500, 1, 2}}}
	if got.nextHop != want.nextHop || got.localPref != want.localPref || !slices.Equal(got.communities, want.communities) || !slices.Equal(got.large, want.large) {
		t.Errorf("iBGP route = %+v, want %+v", got, want)
	}
	if e := ebgp.routes(t); e[vip].localPref == 200 {
		t.Errorf("eBGP peer got LOCAL_PREF 200: %+v", e[vip])
	}
	if _, ok := ebgp.routes(t)[agg]; ok {
		t.Error("the eBGP peer received a prefix advertised to the iBGP peer only")
	}
	if _, ok := ibgp.routes(t)[netip.MustParsePrefix("2001:db8:100::10/128")]; ok {
		t.Error("an IPv6 prefix went over an IPv4-only session")
	}
	for _, name := range []string{"ibgp", "ebgp"} {
		st := statusOf(sp.Speaker, name)
		if !st.Established() || st.PeerASN == 0 || !st.LocalAddress.IsValid() {
			t.Errorf("status %s = %+v", name, st)
		}
	}
	if st := statusOf(sp.Speaker, "ibgp"); st.PrefixesSent != 2 {
		t.Errorf("ibgp PrefixesSent = %d, want 2", st.PrefixesSent)
	}

	if err := sp.Withdraw(ctx, "ns/subset"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the aggregate to be withdrawn", func() bool { _, ok := ibgp.routes(t)[agg]; return !ok })

	// Planned stop: GRACEFUL_SHUTDOWN first, then nothing.
	sp.cancel()
	eventually(t, "GRACEFUL_SHUTDOWN on the route", func() bool {
		return slices.Contains(ibgp.routes(t)[vip].communities, announce.GracefulShutdown.Value)
	})
	eventually(t, "the route to be withdrawn", func() bool { _, ok := ibgp.routes(t)[vip]; return !ok })
}

func TestSetPeersClosesRemovedSessions(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, 64500, 64512)
	sp := startSpeaker(t, Config{RouterID: netip.MustParseAddr("10.0.0.12"), GracefulShutdownDelay: -1})
	ctx := context.Background()
	vip := netip.MustParsePrefix("203.0.113.30/32")
	if err := sp.Announce(ctx, announce.Announcement{Service: "a/b", Addresses: []netip.Addr{vip.Addr()}, BGP: []announce.BGPAdvertisement{{}}}); err != nil {
		t.Fatal(err)
	}
	if err := sp.SetPeers(ctx, []announce.BGPPeer{loopPeer("r", 64512, 64500, r.port)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the route", func() bool { _, ok := r.routes(t)[vip]; return ok })
	if err := sp.SetPeers(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if err := sp.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := sp.Status(); len(st) != 0 {
		t.Errorf("Status after removing every peer = %+v", st)
	}
	eventually(t, "the route to go with the session", func() bool { _, ok := r.routes(t)[vip]; return !ok })
	// The engine is reused for the next session.
	if err := sp.SetPeers(ctx, []announce.BGPPeer{loopPeer("r2", 64512, 64500, r.port)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the route over the new session", func() bool { _, ok := r.routes(t)[vip]; return ok })
}

func TestDynamicASN(t *testing.T) {
	t.Parallel()
	r := newReceiver(t, 64500, 64512)
	sp := startSpeaker(t, Config{RouterID: netip.MustParseAddr("10.0.0.13"), GracefulShutdownDelay: -1})
	ext := loopPeer("ext", 64512, 0, r.port)
	ext.Dynamic = announce.DynamicExternal
	if err := sp.SetPeers(context.Background(), []announce.BGPPeer{ext}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the dynamic external session", func() bool {
		st := statusOf(sp.Speaker, "ext")
		return st.Established() && st.PeerASN == 64500
	})

	r2 := newReceiver(t, 64500, 64512)
	in := loopPeer("int", 64512, 0, r2.port)
	in.Dynamic = announce.DynamicInternal
	if err := sp.SetPeers(context.Background(), []announce.BGPPeer{in}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the wrong kind to be reported", func() bool {
		return strings.Contains(statusOf(sp.Speaker, "int").LastError, "not internal")
	})
}

func TestConnectFailureInStatus(t *testing.T) {
	t.Parallel()
	sp := startSpeaker(t, Config{RouterID: netip.MustParseAddr("10.0.0.14"), GracefulShutdownDelay: -1})
	// Nothing listens on this port: the connect is refused.
	p := loopPeer("nobody", 64512, 64500, freePort(t))
	if err := sp.SetPeers(context.Background(), []announce.BGPPeer{p}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the connect error in the status", func() bool {
		st := statusOf(sp.Speaker, "nobody")
		return !st.Established() && strings.Contains(st.LastError, "connect")
	})
}

func TestSetPeersRejectsInvalid(t *testing.T) {
	sp, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	base := loopPeer("p", 64512, 64500, 0)
	base.RouterID = netip.MustParseAddr("10.0.0.1")
	tests := []struct {
		name string
		mod  func(*announce.BGPPeer)
	}{
		{"no name", func(p *announce.BGPPeer) { p.Name = "" }},
		{"no address", func(p *announce.BGPPeer) { p.Address = netip.Addr{} }},
		{"no my ASN", func(p *announce.BGPPeer) { p.MyASN = 0 }},
		{"no peer ASN", func(p *announce.BGPPeer) { p.ASN = 0 }},
		{"ASN and dynamic", func(p *announce.BGPPeer) { p.Dynamic = announce.DynamicExternal }},
		{"bad dynamic kind", func(p *announce.BGPPeer) { p.ASN = 0; p.Dynamic = "sideways" }},
		{"no router ID", func(p *announce.BGPPeer) { p.RouterID = netip.Addr{} }},
		{"IPv6 router ID", func(p *announce.BGPPeer) { p.RouterID = netip.MustParseAddr("2001:db8::1") }},
		{"source of other family", func(p *announce.BGPPeer) { p.SourceAddress = netip.MustParseAddr("2001:db8::1") }},
		{"short hold time", func(p *announce.BGPPeer) { p.HoldTime = time.Second }},
		{"keepalive above hold", func(p *announce.BGPPeer) { p.KeepaliveTime = time.Minute }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base
			tt.mod(&p)
			if err := sp.SetPeers(context.Background(), []announce.BGPPeer{p}); !errors.Is(err, ErrInvalidPeer) {
				t.Errorf("SetPeers = %v, want ErrInvalidPeer", err)
			}
		})
	}
	t.Run("duplicate name", func(t *testing.T) {
		if err := sp.SetPeers(context.Background(), []announce.BGPPeer{base, base}); !errors.Is(err, ErrInvalidPeer) {
			t.Errorf("SetPeers = %v, want ErrInvalidPeer", err)
		}
	})
	t.Run("valid with defaults", func(t *testing.T) {
		p, err := Config{}.normalizePeer(announce.BGPPeer{Name: "x", MyASN: 1, ASN: 2, Address: netip.MustParseAddr("192.0.2.1"), SourceAddress: netip.MustParseAddr("192.0.2.11")})
		if err != nil {
			t.Fatal(err)
		}
		if p.RouterID != p.SourceAddress || p.HoldTime != DefaultHoldTime || p.KeepaliveTime != DefaultKeepaliveTime || p.ConnectTime != DefaultConnectTime {
			t.Errorf("defaults not applied: %+v", p)
		}
	})
}

func TestAnnounceRejectsInvalid(t *testing.T) {
	sp, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	addr := []netip.Addr{netip.MustParseAddr("203.0.113.1")}
	tests := []struct {
		name string
		a    announce.Announcement
	}{
		{"no service", announce.Announcement{Addresses: addr}},
		{"invalid address", announce.Announcement{Service: "s", Addresses: []netip.Addr{{}}}},
		{"aggregation too long", announce.Announcement{Service: "s", Addresses: addr, BGP: []announce.BGPAdvertisement{{AggregationLength: 33}}}},
		{"negative v6 aggregation", announce.Announcement{Service: "s", Addresses: addr, BGP: []announce.BGPAdvertisement{{AggregationLengthV6: -1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := sp.Announce(context.Background(), tt.a); !errors.Is(err, announce.ErrInvalid) {
				t.Errorf("Announce = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestAttrsMerge(t *testing.T) {
	c1 := contribution{localPref: 100, communities: []announce.Community{{Value: 2}, {Large: true, Global: 1, Local1: 2, Local2: 3}}}
	c2 := contribution{localPref: 300, communities: []announce.Community{{Value: 1}, {Value: 2}}}
	tests := []struct {
		name string
		ibgp bool
		want attrs
	}{
		{"ibgp", true, attrs{localPref: 300, standard: []uint32{1, 2}, large: [][3]uint32{{1, 2, 3}}}},
		{"ebgp drops local pref", false, attrs{standard: []uint32{1, 2}, large: [][3]uint32{{1, 2, 3}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a, b attrs
			a.add(c1, tt.ibgp)
			a.add(c2, tt.ibgp)
			b.add(c2, tt.ibgp)
			b.add(c1, tt.ibgp)
			if !a.equal(tt.want) || !b.equal(tt.want) {
				t.Errorf("merged = %+v / %+v, want %+v", a, b, tt.want)
			}
			g := a.withCommunity(announce.GracefulShutdown)
			if !slices.Contains(g.standard, announce.GracefulShutdown.Value) || slices.Contains(a.standard, announce.GracefulShutdown.Value) {
				t.Errorf("withCommunity: %+v from %+v", g, a)
			}
		})
	}
}

func TestLoggerRecordsErrors(t *testing.T) {
	var mu sync.Mutex
	var buf strings.Builder
	l := &gobgpLogger{log: slog.New(slog.NewTextHandler(&lockedWriter{mu: &mu, w: &buf}, nil))}
	sink := &statusSink{peer: "p"}
	l.sink.Store(sink)
	if got := l.GetLevel(); got < 5 { // debug while not established
		t.Errorf("level = %v before establishment, want debug", got)
	}
	l.Debug("failed to connect", map[string]any{"Topic": "Peer", "Error": "dial tcp: i/o timeout"})
	if got := sink.err(); got != "connect: dial tcp: i/o timeout" {
		t.Errorf("last error = %q", got)
	}
	l.Info("Peer Down", map[string]any{"Reason": "hold-timer-expired"})
	if got := sink.err(); !strings.Contains(got, "hold-timer-expired") {
		t.Errorf("last error = %q", got)
	}
	mu.Lock()
	out := buf.String()
	mu.Unlock()
	if !strings.Contains(out, "Peer Down") || !strings.Contains(out, "peer=p") || strings.Contains(out, "failed to connect") {
		t.Errorf("slog output = %q", out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

package bgp_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lbkit/lbkit/announce"
	"github.com/lbkit/lbkit/internal/bird"
	"github.com/lbkit/lbkit/internal/frr"
	"github.com/lbkit/lbkit/internal/netlab"
)

var (
	vip4 = netip.MustParseAddr("203.0.113.10")
	vip6 = netip.MustParseAddr("2001:db8:100::10")
)

// waitE2E polls cond every 50 ms for at most 30 s.
func waitE2E(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func nodePeer(name string, myASN, asn uint32, addr netip.Addr) announce.BGPPeer {
	return announce.BGPPeer{
		Name: name, MyASN: myASN, ASN: asn, Address: addr,
		HoldTime: 9 * time.Second, KeepaliveTime: 3 * time.Second, ConnectTime: time.Second,
	}
}

func must(t *testing.T, s string) announce.Community {
	c, err := announce.ParseCommunity(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// nextHops returns the sorted next hops FRR holds for pfx.
func nextHops(t *testing.T, r *frr.Router, pfx netip.Prefix) []netip.Addr {
	t.Helper()
	paths, err := r.Paths(context.Background(), pfx)
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Addr
	for _, p := range paths {
		out = append(out, p.NextHops...)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// kernelNextHops returns the gateways of the kernel route to dst on h.
func kernelNextHops(t *testing.T, h *netlab.Host, dst netip.Addr) []netip.Addr {
	t.Helper()
	fam := "-4"
	if dst.Is6() {
		fam = "-6"
	}
	out, err := h.Run(context.Background(), "ip", "-j", fam, "route", "show", dst.String())
	if err != nil {
		t.Fatal(err)
	}
	var routes []struct {
		Gateway  string `json:"gateway"`
		Nexthops []struct {
			Gateway string `json:"gateway"`
		} `json:"nexthops"`
	}
	if err := json.Unmarshal([]byte(out), &routes); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var gws []netip.Addr
	for _, r := range routes {
		if a, err := netip.ParseAddr(r.Gateway); err == nil {
			gws = append(gws, a)
		}
		for _, nh := range r.Nexthops {
			if a, err := netip.ParseAddr(nh.Gateway); err == nil {
				gws = append(gws, a)
			}
		}
	}
	slices.SortFunc(gws, netip.Addr.Compare)
	return gws
}

func addrs4(nodes []*netlab.Host) []netip.Addr {
	var out []netip.Addr
	for _, n := range nodes {
		out = append(out, n.IPv4)
	}
	return out
}

func addrs6(nodes []*netlab.Host) []netip.Addr {
	var out []netip.Addr
	for _, n := range nodes {
		out = append(out, n.IPv6)
	}
	return out
}

// serveVIP puts the VIPs on the nodes' lo and answers TCP on port 8080
// with the node's name.
func serveVIP(t *testing.T, nodes []*netlab.Host, vips ...netip.Addr) {
	t.Helper()
	for _, n := range nodes {
		if err := n.AddLoopbackAddrs(vips...); err != nil {
			t.Fatal(err)
		}
		for _, network := range []string{"tcp4", "tcp6"} {
			l, err := n.Listen(network, ":8080")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
			name := n.Name
			go func() {
				for i := 0; i < 10000; i++ {
					c, err := l.Accept()
					if err != nil {
						return
					}
					c.SetDeadline(time.Now().Add(2 * time.Second))
					io.WriteString(c, name)
					c.Close()
				}
			}()
		}
	}
}

// reach dials vip:8080 from h and returns who answered.
func reach(h *netlab.Host, vip netip.Addr) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := h.DialContext(ctx, "tcp", net.JoinHostPort(vip.String(), "8080"))
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

func checkReach(t *testing.T, from *netlab.Host, vip netip.Addr) {
	t.Helper()
	seen := map[string]int{}
	for i := 0; i < 20; i++ {
		who, err := reach(from, vip)
		if err != nil {
			t.Fatalf("%s cannot reach %s: %v", from.Name, vip, err)
		}
		seen[who]++
	}
	t.Logf("%s -> %s answered by %v", from.Name, vip, seen)
}

func hasCommunity(paths []frr.Path, peer netip.Addr, c string) bool {
	for _, p := range paths {
		if p.PeerAddress == peer && slices.Contains(p.Communities, c) {
			return true
		}
	}
	return false
}

// TestE2EIBGP: three nodes, iBGP to FRR, IPv4 and IPv6 over one session.
func TestE2EIBGP(t *testing.T) {
	lab := netlab.NewT(t, netlab.Options{Nodes: 3, Router: true})
	ctx := context.Background()
	router := lab.Host("router")
	nodes := lab.Nodes()
	cfg := frr.Config{ASN: 64500, RouterID: router.IPv4}
	for _, n := range nodes {
		cfg.Neighbors = append(cfg.Neighbors, frr.Neighbor{Address: n.IPv4, ASN: 64500, DualStack: true})
	}
	r, err := frr.Start(ctx, router, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	serveVIP(t, nodes, vip4, vip6)

	web := announce.Announcement{
		Service:   "default/web",
		Addresses: []netip.Addr{vip4, vip6},
		BGP: []announce.BGPAdvertisement{{
			LocalPref:   150,
			Communities: []announce.Community{must(t, "64500:100"), must(t, "large:64500:1:2")},
		}},
	}
	agg := announce.Announcement{
		Service:   "default/agg",
		Addresses: []netip.Addr{netip.MustParseAddr("203.0.113.77")},
		BGP:       []announce.BGPAdvertisement{{AggregationLength: 24}},
	}
	var sps []*speakerProc
	for i, n := range nodes {
		sp := startSpeakerProc(t, n, helperConfig{RouterID: n.IPv4, GracefulShutdownDelay: 3 * time.Second})
		p := nodePeer("frr", 64500, 64500, router.IPv4)
		p.DualStack = true
		// Graceful restart makes FRR keep a dead speaker's routes (that is
		// its point), so only node1, which is never killed, asks for it.
		p.GracefulRestart = i == 0
		sp.setPeers(t, p)
		sp.announce(t, web)
		sps = append(sps, sp)
	}
	sps[0].announce(t, agg)

	p32, p128 := netip.PrefixFrom(vip4, 32), netip.PrefixFrom(vip6, 128)
	waitE2E(t, "3 ECMP next hops for the /32 and the /128 in FRR", func() bool {
		return slices.Equal(nextHops(t, r, p32), addrs4(nodes)) && slices.Equal(nextHops(t, r, p128), addrs6(nodes))
	})
	waitE2E(t, "the kernel multipath routes", func() bool {
		return slices.Equal(kernelNextHops(t, router, vip4), addrs4(nodes)) && slices.Equal(kernelNextHops(t, router, vip6), addrs6(nodes))
	})
	paths, _ := r.Paths(ctx, p32)
	for _, p := range paths {
		if p.LocalPref != 150 || !slices.Contains(p.Communities, "64500:100") || !slices.Contains(p.Large, "64500:1:2") {
			t.Errorf("path attributes = %+v, want locPrf 150, 64500:100, 64500:1:2", p)
		}
	}
	aggPfx := netip.MustParsePrefix("203.0.113.0/24")
	if nh := nextHops(t, r, aggPfx); !slices.Equal(nh, []netip.Addr{nodes[0].IPv4}) {
		t.Errorf("aggregate next hops = %v", nh)
	}
	if st := sps[0].status(t, "frr"); !st.Established() || st.PrefixesSent != 3 || st.LocalAddress != nodes[0].IPv4 {
		t.Errorf("node1 status = %+v", st)
	}
	checkReach(t, lab.Host("ext"), vip4)
	checkReach(t, lab.Host("ext"), vip6)

	sps[0].withdraw(t, agg.Service)
	waitE2E(t, "the aggregate gone from FRR", func() bool { return len(nextHops(t, r, aggPfx)) == 0 })

	sps[2].kill()
	waitE2E(t, "node3's path dropped after SIGKILL", func() bool {
		return slices.Equal(nextHops(t, r, p32), addrs4(nodes[:2]))
	})

	// Planned stop of node2: GRACEFUL_SHUTDOWN first, then withdrawn.
	if err := sps[1].cmd.Process.Signal(syscallTERM); err != nil {
		t.Fatal(err)
	}
	waitE2E(t, "GRACEFUL_SHUTDOWN on node2's path", func() bool {
		paths, _ := r.Paths(ctx, p32)
		return hasCommunity(paths, nodes[1].IPv4, "graceful-shutdown")
	})
	waitE2E(t, "node2's path withdrawn", func() bool {
		return slices.Equal(nextHops(t, r, p32), addrs4(nodes[:1]))
	})
	if err := sps[1].stop(t, 10*time.Second); err != nil {
		t.Errorf("planned stop: %v", err)
	}
}

// TestE2EEBGP: three nodes, eBGP to FRR over separate IPv4 and IPv6
// sessions and to BIRD; peer subsets, MD5 and multihop.
func TestE2EEBGP(t *testing.T) {
	lab := netlab.NewT(t, netlab.Options{Nodes: 3, Router: true, Client: true})
	ctx := context.Background()
	router, client := lab.Host("router"), lab.Host("client")
	nodes := lab.Nodes()
	cfg := frr.Config{ASN: 64500, RouterID: router.IPv4}
	bcfg := bird.Config{ASN: 64501, RouterID: client.IPv4}
	for i, n := range nodes {
		cfg.Neighbors = append(cfg.Neighbors, frr.Neighbor{Address: n.IPv4, ASN: 64512}, frr.Neighbor{Address: n.IPv6, ASN: 64512})
		bcfg.Neighbors = append(bcfg.Neighbors, bird.Neighbor{Name: "node" + string(rune('1'+i)), Address: n.IPv4, ASN: 64512})
	}
	r, err := frr.Start(ctx, router, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	b, err := bird.Start(ctx, client, bcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	serveVIP(t, nodes, vip4, vip6)

	web := announce.Announcement{Service: "default/web", Addresses: []netip.Addr{vip4, vip6}, BGP: []announce.BGPAdvertisement{{}}}
	subset := announce.Announcement{
		Service:   "default/subset",
		Addresses: []netip.Addr{netip.MustParseAddr("203.0.113.50")},
		BGP:       []announce.BGPAdvertisement{{Peers: []string{"frr4"}, Communities: []announce.Community{must(t, "no-export")}}},
	}
	var sps []*speakerProc
	for _, n := range nodes {
		sp := startSpeakerProc(t, n, helperConfig{RouterID: n.IPv4, GracefulShutdownDelay: -1})
		sp.setPeers(t,
			nodePeer("frr4", 64512, 64500, router.IPv4),
			nodePeer("frr6", 64512, 64500, router.IPv6),
			nodePeer("bird", 64512, 64501, client.IPv4))
		sp.announce(t, web)
		sp.announce(t, subset)
		sps = append(sps, sp)
	}
	p32, p128 := netip.PrefixFrom(vip4, 32), netip.PrefixFrom(vip6, 128)
	waitE2E(t, "3 ECMP next hops for the /32 and the /128 in FRR", func() bool {
		return slices.Equal(nextHops(t, r, p32), addrs4(nodes)) && slices.Equal(nextHops(t, r, p128), addrs6(nodes))
	})
	waitE2E(t, "the kernel multipath routes", func() bool {
		return slices.Equal(kernelNextHops(t, router, vip4), addrs4(nodes)) && slices.Equal(kernelNextHops(t, router, vip6), addrs6(nodes))
	})
	checkReach(t, lab.Host("ext"), vip4)
	checkReach(t, lab.Host("ext"), vip6)

	t.Run("bird", func(t *testing.T) {
		waitE2E(t, "3 paths in BIRD and its kernel multipath route", func() bool {
			routes, err := b.Routes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var via []netip.Addr
			for _, p := range routes[p32] {
				via = append(via, p.Via)
			}
			slices.SortFunc(via, netip.Addr.Compare)
			return slices.Equal(via, addrs4(nodes)) && slices.Equal(kernelNextHops(t, client, vip4), addrs4(nodes))
		})
	})

	t.Run("subset", func(t *testing.T) {
		sub := netip.MustParsePrefix("203.0.113.50/32")
		waitE2E(t, "the subset prefix in FRR", func() bool { return len(nextHops(t, r, sub)) == 3 })
		paths, _ := r.Paths(ctx, sub)
		if !slices.Contains(paths[0].Communities, "no-export") {
			t.Errorf("communities = %v, want no-export", paths[0].Communities)
		}
		// BIRD holds the other prefix of the same speakers, so it is up to date.
		routes, err := b.Routes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := routes[sub]; ok {
			t.Errorf("BIRD received %s, advertised to frr4 only", sub)
		}
		if len(routes[p32]) != 3 {
			t.Errorf("BIRD paths for %s = %v", p32, routes[p32])
		}
		if _, ok := routes[netip.PrefixFrom(vip6, 128)]; ok {
			t.Error("BIRD's IPv4 session carried an IPv6 prefix")
		}
	})

	t.Run("md5", func(t *testing.T) {
		for _, n := range nodes[:2] {
			if err := r.Configure(ctx, 64500, "neighbor "+n.IPv4.String()+" password s3cret"); err != nil {
				t.Fatal(err)
			}
		}
		good := nodePeer("frr4", 64512, 64500, router.IPv4)
		good.Password = "s3cret"
		sps[0].setPeers(t, good)
		bad := good
		bad.Password = "wrong"
		sps[1].setPeers(t, bad)
		waitE2E(t, "node1's MD5 session", func() bool { return sps[0].status(t, "frr4").Established() })
		waitE2E(t, "node2's failure reported", func() bool {
			st := sps[1].status(t, "frr4")
			return !st.Established() && strings.Contains(st.LastError, "MD5")
		})
		st := sps[1].status(t, "frr4")
		t.Logf("node2 with a wrong password: state %s, last error %q", st.State, st.LastError)
		sum, err := r.Summary(ctx, "ipv4")
		if err != nil {
			t.Fatal(err)
		}
		if sum[nodes[0].IPv4].State != "Established" || sum[nodes[1].IPv4].State == "Established" {
			t.Errorf("FRR summary: node1 %+v node2 %+v", sum[nodes[0].IPv4], sum[nodes[1].IPv4])
		}
	})

	t.Run("multihop", func(t *testing.T) {
		mid, err := lab.AddHost("mid")
		if err != nil {
			t.Fatal(err)
		}
		far, err := lab.AddHost("far")
		if err != nil {
			t.Fatal(err)
		}
		pp := netip.MustParsePrefix
		if err := lab.Link(router, "eth2", []netip.Prefix{pp("198.18.1.1/24")}, mid, "eth0", []netip.Prefix{pp("198.18.1.2/24")}); err != nil {
			t.Fatal(err)
		}
		if err := lab.Link(mid, "eth1", []netip.Prefix{pp("198.18.2.1/24")}, far, "eth0", []netip.Prefix{pp("198.18.2.2/24")}); err != nil {
			t.Fatal(err)
		}
		if err := mid.Sysctl("net.ipv4.ip_forward=1"); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			h    *netlab.Host
			args []string
		}{
			{mid, []string{"route", "add", "default", "via", "198.18.1.1"}},
			{far, []string{"route", "add", "default", "via", "198.18.2.1"}},
			{router, []string{"route", "add", "198.18.2.0/24", "via", "198.18.1.2"}},
		} {
			if _, err := c.h.Run(ctx, "ip", c.args...); err != nil {
				t.Fatal(err)
			}
		}
		farAddr := "198.18.2.2"
		if err := r.Configure(ctx, 64500,
			"neighbor "+farAddr+" remote-as 64513",
			"neighbor "+farAddr+" ebgp-multihop 2",
			"neighbor "+farAddr+" timers connect 1",
			"address-family ipv4 unicast",
			"neighbor "+farAddr+" activate"); err != nil {
			t.Fatal(err)
		}
		sp := startSpeakerProc(t, far, helperConfig{RouterID: netip.MustParseAddr(farAddr), GracefulShutdownDelay: -1})
		p := nodePeer("frr", 64513, 64500, router.IPv4)
		p.EBGPMultiHop = true
		sp.setPeers(t, p)
		far4 := netip.MustParsePrefix("203.0.113.60/32")
		sp.announce(t, announce.Announcement{Service: "far/x", Addresses: []netip.Addr{far4.Addr()}, BGP: []announce.BGPAdvertisement{{}}})
		waitE2E(t, "the route from two hops away", func() bool {
			return slices.Equal(nextHops(t, r, far4), []netip.Addr{netip.MustParseAddr(farAddr)})
		})
	})
}

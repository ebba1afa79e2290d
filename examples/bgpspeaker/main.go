// Command bgpspeaker advertises addresses over BGP with lbkit's bgp
// package, without Kubernetes. SIGTERM or SIGINT stops it gracefully: the
// routes are re-advertised with GRACEFUL_SHUTDOWN, kept for -gshut-delay,
// then withdrawn.
//
//	bgpspeaker -router-id 192.0.2.11 -asn 64512 \
//	  -peer 192.0.2.1,asn=64500 -peer 2001:db8:1::1,asn=64500,name=r6 \
//	  -addr 203.0.113.10 -addr 2001:db8:100::10 -community 64500:100
//
// A -peer is ADDRESS[,name=N][,asn=N|dynamic=internal|external][,port=N]
// [,source=ADDR][,password=P][,multihop][,dualstack][,gr][,vrf=V]
// [,hold=DUR][,keepalive=DUR][,connect=DUR].
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lbkit/lbkit/announce"
	"github.com/lbkit/lbkit/bgp"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, " ") }
func (l *list) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bgpspeaker:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("bgpspeaker", flag.ContinueOnError)
	routerID := fs.String("router-id", "", "BGP router ID (IPv4)")
	asn := fs.Uint("asn", 64512, "local AS number")
	var peers, addrs, communities, only list
	fs.Var(&peers, "peer", "peer: ADDRESS[,option...] (repeatable)")
	fs.Var(&addrs, "addr", "address to advertise (repeatable)")
	fs.Var(&communities, "community", "community a:b, large:a:b:c or a well-known name (repeatable)")
	fs.Var(&only, "to", "advertise only to this peer name (repeatable; default all)")
	agg := fs.Int("aggregation-length", 0, "IPv4 prefix length advertised (0: 32)")
	agg6 := fs.Int("aggregation-length-v6", 0, "IPv6 prefix length advertised (0: 128)")
	localPref := fs.Uint("local-pref", 0, "LOCAL_PREF for iBGP peers (0: none)")
	gshut := fs.Duration("gshut-delay", bgp.DefaultGracefulShutdownDelay, "how long to keep GRACEFUL_SHUTDOWN routes before withdrawing")
	verbose := fs.Bool("v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	var cfg bgp.Config
	cfg.Logger, cfg.GracefulShutdownDelay = log, *gshut
	if *routerID != "" {
		id, err := netip.ParseAddr(*routerID)
		if err != nil {
			return fmt.Errorf("-router-id: %w", err)
		}
		cfg.RouterID = id
	}
	var bgpPeers []announce.BGPPeer
	for i, s := range peers {
		p, err := parsePeer(s, uint32(*asn), i)
		if err != nil {
			return err
		}
		bgpPeers = append(bgpPeers, p)
	}
	adv := announce.BGPAdvertisement{AggregationLength: *agg, AggregationLengthV6: *agg6, LocalPref: uint32(*localPref), Peers: only}
	for _, c := range communities {
		cm, err := announce.ParseCommunity(c)
		if err != nil {
			return err
		}
		adv.Communities = append(adv.Communities, cm)
	}
	a := announce.Announcement{Service: "bgpspeaker", BGP: []announce.BGPAdvertisement{adv}}
	for _, s := range addrs {
		ad, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("-addr: %w", err)
		}
		a.Addresses = append(a.Addresses, ad)
	}

	sp, err := bgp.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := sp.SetPeers(ctx, bgpPeers); err != nil {
		return err
	}
	if err := sp.Announce(ctx, a); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- sp.Run(ctx) }()
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			for _, st := range sp.Status() {
				log.Info("peer", "name", st.Name, "state", string(st.State), "uptime", st.Uptime(time.Now()).Round(time.Second),
					"prefixes_sent", st.PrefixesSent, "last_error", st.LastError)
			}
		}
	}
}

func parsePeer(s string, myASN uint32, i int) (announce.BGPPeer, error) {
	parts := strings.Split(s, ",")
	addr, err := netip.ParseAddr(parts[0])
	if err != nil {
		return announce.BGPPeer{}, fmt.Errorf("-peer %q: %w", s, err)
	}
	p := announce.BGPPeer{Name: fmt.Sprintf("peer%d", i+1), MyASN: myASN, Address: addr}
	for _, opt := range parts[1:] {
		k, v, _ := strings.Cut(opt, "=")
		var err error
		switch k {
		case "name":
			p.Name = v
		case "asn":
			var n uint64
			n, err = strconv.ParseUint(v, 10, 32)
			p.ASN = uint32(n)
		case "dynamic":
			p.Dynamic = announce.DynamicASN(v)
		case "port":
			var n uint64
			n, err = strconv.ParseUint(v, 10, 16)
			p.Port = uint16(n)
		case "source":
			p.SourceAddress, err = netip.ParseAddr(v)
		case "password":
			p.Password = v
		case "multihop":
			p.EBGPMultiHop = true
		case "dualstack":
			p.DualStack = true
		case "gr":
			p.GracefulRestart = true
		case "vrf":
			p.VRF = v
		case "hold":
			p.HoldTime, err = time.ParseDuration(v)
		case "keepalive":
			p.KeepaliveTime, err = time.ParseDuration(v)
		case "connect":
			p.ConnectTime, err = time.ParseDuration(v)
		default:
			err = errors.New("unknown option")
		}
		if err != nil {
			return p, fmt.Errorf("-peer %q: %s: %w", s, k, err)
		}
	}
	return p, nil
}

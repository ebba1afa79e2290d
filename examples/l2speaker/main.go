// Command l2speaker announces a set of virtual IPs on a layer 2 segment
// from a group of nodes, without Kubernetes: the nodes form a memberlist
// cluster, elect one owner per address (membership.Elect) and the owner
// answers ARP/NDP for it (package l2). It is what lbkit's Kubernetes
// speaker does for L2 services, with the addresses given on the command
// line.
//
//	l2speaker -name node1 -bind 192.0.2.11:7946 -peers 192.0.2.12:7946,192.0.2.13:7946 \
//	    -vips 192.0.2.200,2001:db8:1::200 -http :8080
//
// SIGTERM or SIGINT is a planned stop: the node tells its peers it is
// leaving, waits until they have taken over its addresses, stops
// answering, keeps serving for -linger, then leaves the cluster.
//
// With -http it also serves "/" (the node name, so a client can tell who
// answered) and "/status" (JSON: alive nodes and the owner of each VIP).
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lbkit/lbkit/announce"
	"github.com/lbkit/lbkit/l2"
	"github.com/lbkit/lbkit/membership"
)

type options struct {
	name    string
	bind    netip.AddrPort
	peers   []string
	vips    []netip.Addr
	ifaces  []string
	fast    bool
	key     []byte
	http    string
	linger  time.Duration
	verbose bool
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("l2speaker", flag.ContinueOnError)
	var o options
	var bind, peers, vips, ifaces, key, profile string
	fs.StringVar(&o.name, "name", "", "unique node name (required)")
	fs.StringVar(&bind, "bind", "0.0.0.0:7946", "memberlist address ip:port")
	fs.StringVar(&peers, "peers", "", "comma-separated ip:port of other nodes")
	fs.StringVar(&vips, "vips", "", "comma-separated virtual IPs (IPv4 and/or IPv6)")
	fs.StringVar(&ifaces, "iface", "", "comma-separated interfaces to answer on (default: all eligible)")
	fs.StringVar(&profile, "profile", "fast", "timer profile: fast or lan")
	fs.StringVar(&key, "key", "", "hex AES key (16, 24 or 32 bytes) to encrypt the gossip")
	fs.StringVar(&o.http, "http", "", "serve the node name and /status on this address")
	fs.DurationVar(&o.linger, "linger", 500*time.Millisecond, "keep serving this long after handing off on SIGTERM")
	fs.BoolVar(&o.verbose, "v", false, "debug logs")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.name == "" {
		return o, errors.New("-name is required")
	}
	var err error
	if o.bind, err = netip.ParseAddrPort(bind); err != nil {
		return o, fmt.Errorf("-bind: %w", err)
	}
	o.peers = splitList(peers)
	for _, s := range splitList(vips) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return o, fmt.Errorf("-vips: %w", err)
		}
		o.vips = append(o.vips, a)
	}
	o.ifaces = splitList(ifaces)
	switch profile {
	case "fast":
		o.fast = true
	case "lan":
	default:
		return o, fmt.Errorf("-profile %q: want fast or lan", profile)
	}
	if key != "" {
		if o.key, err = hex.DecodeString(key); err != nil {
			return o, fmt.Errorf("-key: %w", err)
		}
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "l2speaker:", err)
		os.Exit(2)
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(o, log); err != nil {
		log.Error("l2speaker", "err", err)
		os.Exit(1)
	}
}

func run(o options, log *slog.Logger) error {
	stopSig, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	profile := membership.ProfileLAN
	if o.fast {
		profile = membership.ProfileFastLAN
	}
	m, err := membership.New(membership.Config{
		Name: o.name, BindAddr: o.bind, Peers: o.peers, SecretKey: o.key,
		Profile: profile, Logger: log,
	})
	if err != nil {
		return err
	}
	ann, err := l2.New(l2.Config{Logger: log})
	if err != nil {
		return err
	}
	sp := &speaker{name: o.name, m: m, ann: ann, ifaces: o.ifaces, log: log}
	for _, v := range o.vips {
		sp.cands = append(sp.cands, membership.Candidate{Addr: v})
	}

	var srv *http.Server
	if o.http != "" {
		ln, err := net.Listen("tcp", o.http)
		if err != nil {
			return err
		}
		srv = &http.Server{Handler: sp.handler(), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
	}

	// Each part gets its own context so the stop can be ordered.
	mctx, mstop := context.WithCancel(context.Background())
	actx, astop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() { defer wg.Done(); errs <- m.Run(mctx) }()
	go func() { defer wg.Done(); errs <- ann.Run(actx) }()
	defer func() {
		mstop()
		astop()
		wg.Wait()
	}()

	select {
	case <-m.Ready():
	case <-stopSig.Done():
		return nil
	case err := <-errs:
		return err
	}
	unsub := m.Subscribe(func(e membership.Event) {
		sp.reconcile()
		if e.Kind == membership.Reclaim {
			ann.Reannounce()
		}
	})
	defer unsub()
	sp.reconcile()
	tick := time.NewTicker(time.Second) // safety net; events do the real work
	defer tick.Stop()
loop:
	for {
		select {
		case <-stopSig.Done():
			break loop
		case err := <-errs:
			return err
		case <-tick.C:
			sp.reconcile()
		}
	}

	log.Info("stopping: handing off")
	dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if err := m.Drain(dctx); err != nil {
		log.Warn("hand-off", "err", err)
	}
	cancel()
	sp.reconcile() // out of our own view now: withdraws everything
	time.Sleep(o.linger)
	if srv != nil {
		srv.Close()
	}
	log.Info("stopped")
	return nil
}

// speaker elects owners over the alive nodes and announces what it owns.
type speaker struct {
	name   string
	m      *membership.Membership
	ann    *l2.Announcer
	ifaces []string
	cands  []membership.Candidate
	log    *slog.Logger

	mu sync.Mutex
	// Guarded by mu; reconcile runs from the event goroutine and the ticker.
	alive  []string
	owners map[netip.Addr]string
	owned  []netip.Addr
}

func (s *speaker) reconcile() {
	s.mu.Lock()
	defer s.mu.Unlock()
	alive := s.m.Alive()
	e := membership.Elect(s.name, s.cands, alive)
	s.m.Watch(e.Watch)
	owned := e.OwnedBy(s.name)
	if !slices.Equal(owned, s.owned) || !slices.Equal(alive, s.alive) {
		s.log.Info("election", "alive", alive, "owned", owned, "watch", e.Watch)
	}
	// Announce is idempotent and only sends gratuitous packets for
	// addresses that are new; the l2 announcer does not call back.
	err := s.ann.Announce(context.Background(), announce.Announcement{
		Service: "l2speaker", Addresses: owned, L2: announce.L2Options{Interfaces: s.ifaces},
	})
	if err != nil {
		s.log.Error("announce", "err", err)
	}
	s.alive, s.owners, s.owned = alive, e.Owners, owned
}

// Status is what /status returns.
type Status struct {
	Node   string            `json:"node"`
	Alive  []string          `json:"alive"`
	Owners map[string]string `json:"owners"`
	Owned  []string          `json:"owned"`
	Stats  l2.Stats          `json:"stats"`
}

func (s *speaker) status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{Node: s.name, Alive: s.alive, Owners: map[string]string{}, Stats: s.ann.Stats()}
	for a, n := range s.owners {
		st.Owners[a.String()] = n
	}
	for _, a := range s.owned {
		st.Owned = append(st.Owned, a.String())
	}
	return st
}

func (s *speaker) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, s.name)
	})
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.status())
	})
	return mux
}

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"time"

	"github.com/lbkit/lbkit/announce"
	"github.com/lbkit/lbkit/bgp"
	"github.com/lbkit/lbkit/internal/frr"
)

const bgpChildEnv = "LBKIT_BENCH_BGP_CHILD"

type bgpChildConfig struct {
	FRRDir       string
	Router, Node netip.Addr
}

type bgpBenchResult struct {
	SessionMs           int64
	P50Ms, P99Ms, MaxMs float64
	BulkS, WithdrawS    float64
}

// benchPrefix is the i-th /32 of 198.18.0.0/15 (RFC 2544's benchmark range).
func benchPrefix(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18 + byte(i>>16&1), byte(i >> 8), byte(i)})
}

func benchBGPChild(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("bench bgp child", flag.ContinueOnError)
	single := fs.Int("single", 100, "")
	bulk := fs.Int("bulk", 10000, "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var cfg bgpChildConfig
	if err := json.Unmarshal([]byte(os.Getenv(bgpChildEnv)), &cfg); err != nil {
		return err
	}
	r := &frr.Router{Dir: cfg.FRRDir}
	sp, err := bgp.New(bgp.Config{Logger: log, RouterID: cfg.Node, GracefulShutdownDelay: -1})
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- sp.Run(runCtx) }()
	defer func() { cancel(); <-done }()

	t0 := time.Now()
	err = sp.SetPeers(ctx, []announce.BGPPeer{{
		Name: "frr", MyASN: 64512, ASN: 64500, Address: cfg.Router,
		HoldTime: 9 * time.Second, KeepaliveTime: 3 * time.Second, ConnectTime: time.Second,
	}})
	if err != nil {
		return err
	}
	if err := bgpWait(ctx, 30*time.Second, 10*time.Millisecond, func() (bool, error) {
		st := sp.Status()
		return len(st) == 1 && st[0].Established(), nil
	}); err != nil {
		return fmt.Errorf("session: %w", err)
	}
	var res bgpBenchResult
	res.SessionMs = time.Since(t0).Milliseconds()
	adv := []announce.BGPAdvertisement{{}}
	received := func() (int, error) {
		sum, err := r.Summary(ctx, "ipv4")
		if err != nil {
			return 0, err
		}
		return sum[cfg.Node].PfxRcd, nil
	}

	// One at a time: Announce, then poll FRR for that prefix.
	lat := make([]float64, 0, *single)
	for i := 0; i < *single; i++ {
		a := benchPrefix(i)
		start := time.Now()
		if err := sp.Announce(ctx, announce.Announcement{Service: fmt.Sprintf("single/%d", i), Addresses: []netip.Addr{a}, BGP: adv}); err != nil {
			return err
		}
		pfx := netip.PrefixFrom(a, 32)
		if err := bgpWait(ctx, 10*time.Second, time.Millisecond, func() (bool, error) {
			paths, err := r.Paths(ctx, pfx)
			return len(paths) > 0, err
		}); err != nil {
			return fmt.Errorf("single %s: %w", pfx, err)
		}
		lat = append(lat, float64(time.Since(start).Microseconds())/1000)
	}
	for i := 0; i < *single; i++ {
		sp.Withdraw(ctx, fmt.Sprintf("single/%d", i))
	}
	if err := bgpWait(ctx, 30*time.Second, 20*time.Millisecond, func() (bool, error) { n, err := received(); return n == 0, err }); err != nil {
		return fmt.Errorf("clearing: %w", err)
	}
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		res.P50Ms, res.P99Ms, res.MaxMs = lat[n/2], lat[min(n-1, n*99/100)], lat[n-1]
	}

	// Bulk: every prefix, one Announce each, as fast as they come.
	start := time.Now()
	for i := 0; i < *bulk; i++ {
		if err := sp.Announce(ctx, announce.Announcement{Service: fmt.Sprintf("bulk/%d", i), Addresses: []netip.Addr{benchPrefix(i)}, BGP: adv}); err != nil {
			return err
		}
	}
	if err := bgpWait(ctx, 120*time.Second, 20*time.Millisecond, func() (bool, error) { n, err := received(); return n == *bulk, err }); err != nil {
		return fmt.Errorf("bulk: %w", err)
	}
	res.BulkS = time.Since(start).Seconds()

	start = time.Now()
	for i := 0; i < *bulk; i++ {
		sp.Withdraw(ctx, fmt.Sprintf("bulk/%d", i))
	}
	if err := bgpWait(ctx, 120*time.Second, 20*time.Millisecond, func() (bool, error) { n, err := received(); return n == 0, err }); err != nil {
		return fmt.Errorf("withdraw: %w", err)
	}
	res.WithdrawS = time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(res)
}

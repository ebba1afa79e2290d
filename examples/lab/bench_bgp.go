package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/lbkit/lbkit/internal/frr"
	"github.com/lbkit/lbkit/internal/netlab"
)

// benchBGP measures how fast routes announced through bgp.Speaker reach
// FRR's RIB: one node, eBGP to FRR on the router. The speaker must dial
// from the node's namespace, so the measuring half runs as a child of
// this program inside it (see bgp_child.go); vtysh reaches FRR over its
// unix socket from there.
func benchBGP(ctx context.Context, log *slog.Logger, args []string) error {
	if os.Getenv(bgpChildEnv) != "" {
		return benchBGPChild(ctx, log, args)
	}
	fs := flag.NewFlagSet("bench bgp", flag.ContinueOnError)
	single := fs.Int("single", 100, "prefixes announced one at a time")
	bulk := fs.Int("bulk", 10000, "prefixes announced at once")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lab, err := netlab.New(ctx, netlab.Options{Name: "bgpbench", Nodes: 1, Router: true})
	if err != nil {
		return err
	}
	defer lab.Close()
	router, node := lab.Host("router"), lab.Nodes()[0]
	r, err := frr.Start(ctx, router, frr.Config{
		ASN: 64500, RouterID: router.IPv4,
		Neighbors: []frr.Neighbor{{Address: node.IPv4, ASN: 64512}},
	})
	if err != nil {
		return err
	}
	defer r.Stop()

	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, self, "bench", "bgp", fmt.Sprintf("-single=%d", *single), fmt.Sprintf("-bulk=%d", *bulk))
	conf, _ := json.Marshal(bgpChildConfig{FRRDir: r.Dir, Router: router.IPv4, Node: node.IPv4})
	cmd.Env = append(os.Environ(), bgpChildEnv+"="+string(conf))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := node.Do(cmd.Start); err != nil {
		return err
	}
	var res bgpBenchResult
	decErr := json.NewDecoder(out).Decode(&res)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("bench child: %w", err)
	}
	if decErr != nil {
		return fmt.Errorf("bench child output: %w", decErr)
	}
	fmt.Printf("BGP announce -> FRR RIB (GoBGP speaker in a node namespace, eBGP, FRR %s)\n", "bgpd")
	fmt.Printf("%-34s %10s\n", "measure", "value")
	fmt.Printf("%-34s %10d\n", "session up after start (ms)", res.SessionMs)
	fmt.Printf("%-34s %10.1f\n", fmt.Sprintf("announce p50 over %d (ms)", *single), res.P50Ms)
	fmt.Printf("%-34s %10.1f\n", fmt.Sprintf("announce p99 over %d (ms)", *single), res.P99Ms)
	fmt.Printf("%-34s %10.1f\n", fmt.Sprintf("announce max over %d (ms)", *single), res.MaxMs)
	fmt.Printf("%-34s %10.2f\n", fmt.Sprintf("%d prefixes all in FRR (s)", *bulk), res.BulkS)
	fmt.Printf("%-34s %10.2f\n", fmt.Sprintf("%d prefixes all withdrawn (s)", *bulk), res.WithdrawS)
	fmt.Printf("bgp announce_p50_ms=%.1f announce_p99_ms=%.1f bulk10k_s=%.2f withdraw10k_s=%.2f\n", res.P50Ms, res.P99Ms, res.BulkS, res.WithdrawS)
	return nil
}

// bgpWait polls cond every interval until it holds, for at most limit.
func bgpWait(ctx context.Context, limit, interval time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not done after %v", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/lbkit/lbkit/internal/netlab"
	"github.com/lbkit/lbkit/membership"
)

// benchL2Failover measures how long the client loses a VIP when its owner
// dies (link cut + SIGKILL) or stops (SIGTERM), for lbkit's l2speaker and,
// in the same lab and run, keepalived VRRP with advert_int 1 s and 0.1 s.
// The client connects to the VIP every 10 ms (TCP, 200 ms deadline); the
// outage is the time from the last success before failures to the first
// success after them.
func benchL2Failover(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("bench l2-failover", flag.ContinueOnError)
	trials := fs.Int("trials", 10, "lbkit trials per event (crash, planned stop)")
	ktrials := fs.Int("keepalived-trials", 10, "keepalived crash trials per advert_int (0 skips keepalived)")
	bin := fs.String("speaker", "", "prebuilt l2speaker binary (default: go build it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *trials < 1 {
		return errors.New("-trials must be at least 1")
	}
	lab, err := netlab.New(ctx, netlab.Options{Name: "l2b", Nodes: 3, Client: true})
	if err != nil {
		return err
	}
	defer lab.Close()
	if *bin == "" {
		*bin = filepath.Join(lab.Dir, "l2speaker")
		log.Info("building l2speaker")
		if out, err := exec.CommandContext(ctx, "go", "build", "-o", *bin, "github.com/lbkit/lbkit/examples/l2speaker").CombinedOutput(); err != nil {
			return fmt.Errorf("go build l2speaker: %v: %s", err, out)
		}
	}

	// keepalived first, on a VIP of its own held on eth0 by VRRP.
	ka := map[time.Duration][]time.Duration{}
	if *ktrials > 0 {
		for _, n := range lab.Nodes()[:2] {
			ln, err := l2ServeTCP(n, kaPort)
			if err != nil {
				return err
			}
			defer ln.Close()
		}
		for _, advert := range []time.Duration{time.Second, 100 * time.Millisecond} {
			for i := 0; i < *ktrials; i++ {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				d, err := l2KeepalivedTrial(ctx, lab, lab.Dir, advert, len(ka[advert]))
				if err != nil {
					return err
				}
				log.Info("keepalived crash", "advert_int", advert, "trial", i+1, "outage_ms", l2ms(d))
				ka[advert] = append(ka[advert], d)
			}
		}
	}

	// lbkit: the VIPs on every node's lo, the speaker answering ARP/NDP.
	c := &l2Cluster{bin: *bin, lab: lab, client: lab.Host("client"), procs: map[string]*netlab.Process{}}
	var names []string
	for _, n := range lab.Nodes() {
		names = append(names, n.Name)
	}
	l2VIP6 = pickL2VIP6(names)
	log.Info("VIPs", "v4", l2VIP4, "v6", l2VIP6, "ranking", membership.Rank(l2VIP4, names))
	for _, n := range lab.Nodes() {
		if err := n.AddLoopbackAddrs(l2VIP4, l2VIP6); err != nil {
			return err
		}
		if err := c.start(ctx, n); err != nil {
			return err
		}
	}
	var crash4, crash6, crashWorst, planned4, planned6 []time.Duration
	plannedLost, crashLost := 0, 0
	for _, crash := range []bool{true, false} {
		for i := 0; i < *trials; i++ {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r, err := c.trial(ctx, log, crash)
			if err != nil {
				return err
			}
			kind := "planned"
			if crash {
				kind = "crash"
				crash4, crash6 = append(crash4, r.outage4), append(crash6, r.outage6)
				crashWorst = append(crashWorst, max(r.outage4, r.outage6))
				crashLost += r.lost
			} else {
				planned4, planned6 = append(planned4, r.outage4), append(planned6, r.outage6)
				plannedLost += r.lost
			}
			log.Info("lbkit "+kind, "trial", i+1, "v4_outage_ms", l2ms(r.outage4), "v6_outage_ms", l2ms(r.outage6), "lost", r.lost)
		}
	}
	for _, p := range c.procs {
		p.Signal(syscall.SIGTERM)
	}

	fmt.Printf("%-22s %-8s %6s %8s %8s %8s\n", "system", "event", "trials", "p50_ms", "p99_ms", "max_ms")
	row := func(sys, ev string, ds []time.Duration) {
		if len(ds) == 0 {
			return
		}
		fmt.Printf("%-22s %-8s %6d %8d %8d %8d\n", sys, ev, len(ds), l2ms(l2Percentile(ds, 50)), l2ms(l2Percentile(ds, 99)), l2ms(l2Percentile(ds, 100)))
	}
	row("lbkit v4 (ARP)", "crash", crash4)
	row("lbkit v6 (NDP)", "crash", crash6)
	row("lbkit v4 (ARP)", "planned", planned4)
	row("lbkit v6 (NDP)", "planned", planned6)
	row("keepalived adv 1s", "crash", ka[time.Second])
	row("keepalived adv 0.1s", "crash", ka[100*time.Millisecond])
	fmt.Printf("probes lost: crash %d, planned stop %d (both VIPs, all trials)\n", crashLost, plannedLost)
	fmt.Printf("l2-failover crash_p50_ms=%d crash_p99_ms=%d planned_lost=%d keepalived_1s_p50_ms=%d keepalived_100ms_p50_ms=%d\n",
		l2ms(l2Percentile(crashWorst, 50)), l2ms(l2Percentile(crashWorst, 99)), plannedLost,
		l2ms(l2Percentile(ka[time.Second], 50)), l2ms(l2Percentile(ka[100*time.Millisecond], 50)))
	return nil
}

package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/lbkit/lbkit/internal/stack"
)

// benchE2E measures the whole system (stack: kube-apiserver, lbkit
// controller, three speakers in node namespaces, FRR): Service create to
// reachable from the client over layer 2 and from ext over BGP, and how
// long 1,000 services take to be all announced in FRR.
func benchE2E(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("bench e2e", flag.ContinueOnError)
	trials := fs.Int("trials", 20, "services created one at a time per mode")
	bulk := fs.Int("bulk", 1000, "services created at once for the announcement count")
	binary := fs.String("binary", "", "a prebuilt lbkit binary (default: build ./examples/lbkit)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("bench e2e builds network namespaces: run it as root")
	}
	s, err := stack.Start(ctx, stack.Options{Log: log, Binary: *binary})
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Apply(ctx, stack.Config); err != nil {
		return err
	}
	if err := s.StartController(ctx); err != nil {
		return err
	}
	nodes := []string{"node1", "node2", "node3"}
	for _, n := range nodes {
		if err := s.StartSpeaker(ctx, n); err != nil {
			return err
		}
	}
	client, ext := s.Lab.Host("client"), s.Lab.Host("ext")

	// Warm up: one service per mode, so sessions are up and memberlist has
	// converged before anything is timed.
	for i, pool := range []string{"lan", "routed"} {
		name := fmt.Sprintf("warmup-%d", i)
		if err := s.CreateService(ctx, name, stack.ServiceOptions{Pool: pool}); err != nil {
			return err
		}
		if err := s.SetEndpoints(ctx, name, nodes...); err != nil {
			return err
		}
		addrs, err := s.WaitIngress(ctx, name, 1, time.Minute)
		if err != nil {
			return err
		}
		from := client
		if pool == "routed" {
			from = ext
		}
		if _, _, err := stack.WaitReachable(ctx, from, addrs[0], time.Minute); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}

	// measure creates a service (endpoints first, as a Deployment's pods
	// exist before its Service usually) and times create -> first answer.
	measure := func(name, pool string) (time.Duration, error) {
		if err := s.SetEndpoints(ctx, name, nodes...); err != nil {
			return 0, err
		}
		start := time.Now()
		if err := s.CreateService(ctx, name, stack.ServiceOptions{Pool: pool}); err != nil {
			return 0, err
		}
		addrs, err := s.WaitIngress(ctx, name, 1, time.Minute)
		if err != nil {
			return 0, err
		}
		from := client
		if pool == "routed" {
			from = ext
		}
		if _, _, err := stack.WaitReachable(ctx, from, addrs[0], time.Minute); err != nil {
			return 0, err
		}
		return time.Since(start), nil
	}
	var l2, bgp []time.Duration
	for i := 0; i < *trials; i++ {
		d, err := measure(fmt.Sprintf("l2-%02d", i), "lan")
		if err != nil {
			return err
		}
		l2 = append(l2, d)
		d, err = measure(fmt.Sprintf("bgp-%02d", i), "routed")
		if err != nil {
			return err
		}
		bgp = append(bgp, d)
	}

	// 1,000 IPv6 services from the routed pool, created by 16 clients;
	// done when FRR has received all of them from every node.
	base := map[string]int{}
	sum, err := s.Router.Summary(ctx, "ipv6")
	if err != nil {
		return err
	}
	for a, p := range sum {
		base[a.String()] = p.PfxRcd
	}
	// The services' endpoints exist first, as a Deployment's pods usually
	// do; the timed part is the Services and what lbkit does with them.
	if err := parallel(16, *bulk, func(i int) error {
		return s.SetEndpoints(ctx, fmt.Sprintf("bulk-%04d", i), nodes...)
	}); err != nil {
		return err
	}
	start := time.Now()
	if err := parallel(16, *bulk, func(i int) error {
		return s.CreateService(ctx, fmt.Sprintf("bulk-%04d", i), stack.ServiceOptions{Pool: "routed", IPv6: true})
	}); err != nil {
		return err
	}
	created := time.Since(start)
	deadline := time.Now().Add(5 * time.Minute)
	var done bool
	for !done && time.Now().Before(deadline) {
		sum, err := s.Router.Summary(ctx, "ipv6")
		if err == nil && len(sum) >= len(nodes) {
			done = true
			for a, p := range sum {
				if p.PfxRcd-base[a.String()] < *bulk {
					done = false
				}
			}
		}
		if !done {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !done {
		return fmt.Errorf("%d services not all announced in FRR within 5 minutes", *bulk)
	}
	bulkTime := time.Since(start)

	fmt.Printf("e2e: Service create -> reachable (kube-apiserver %s, lbkit controller, 3 speakers, FRR router)\n", "v1.36.3")
	fmt.Printf("%-48s %8s %8s %8s\n", "measure", "p50", "p99", "max")
	row := func(label string, ds []time.Duration) {
		fmt.Printf("%-48s %8.0f %8.0f %8.0f\n", label, ms(l2Percentile(ds, 50)), ms(l2Percentile(ds, 99)), ms(l2Percentile(ds, 100)))
	}
	row(fmt.Sprintf("L2: create -> client connects, ms (n=%d)", len(l2)), l2)
	row(fmt.Sprintf("BGP: create -> ext connects via router, ms (n=%d)", len(bgp)), bgp)
	fmt.Printf("%-48s %8.2f\n", fmt.Sprintf("%d services created (s)", *bulk), created.Seconds())
	fmt.Printf("%-48s %8.2f\n", fmt.Sprintf("%d services in FRR from all 3 nodes (s)", *bulk), bulkTime.Seconds())
	fmt.Printf("e2e create_to_reachable_l2_ms=%.0f create_to_reachable_bgp_ms=%.0f svc1k_announced_s=%.2f\n",
		ms(l2Percentile(l2, 50)), ms(l2Percentile(bgp, 50)), bulkTime.Seconds())
	return nil
}

// parallel runs fn(0..n-1) on w goroutines and returns the first error.
func parallel(w, n int, fn func(i int) error) error {
	var wg sync.WaitGroup
	errc := make(chan error, w)
	for g := 0; g < w; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < n; i += w {
				if err := fn(i); err != nil {
					errc <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errc)
	return <-errc
}

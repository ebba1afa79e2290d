package main

import (
	"context"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/lbkit/lbkit/internal/netlab"
)

// l2Probe is one TCP connect from the client to a VIP.
type l2Probe struct {
	sent time.Time
	ok   bool
}

// l2Prober connects to target from the client every interval, each attempt
// with its own deadline, and records every outcome.
type l2Prober struct {
	stop chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	probes []l2Probe
}

func startL2Prober(client *netlab.Host, target netip.AddrPort, interval, timeout time.Duration) *l2Prober {
	p := &l2Prober{stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		var inflight sync.WaitGroup
		defer inflight.Wait()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
			inflight.Add(1)
			go func() {
				defer inflight.Done()
				sent := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				c, err := client.DialContext(ctx, "tcp", target.String())
				if err == nil {
					c.Close()
				}
				p.mu.Lock()
				p.probes = append(p.probes, l2Probe{sent: sent, ok: err == nil})
				p.mu.Unlock()
			}()
		}
	}()
	return p
}

// finish stops probing and returns the outage (from the last success before
// the longest run of failures to the first success after it; 0 without a
// failure), the number of failed probes and the number sent.
func (p *l2Prober) finish() (outage time.Duration, lost, sent int) {
	close(p.stop)
	p.wg.Wait()
	probes := slices.Clone(p.probes)
	slices.SortFunc(probes, func(a, b l2Probe) int { return a.sent.Compare(b.sent) })
	var lastOK time.Time
	runStart := -1
	for i, pr := range probes {
		if !pr.ok {
			lost++
			if runStart < 0 {
				runStart = i
			}
			continue
		}
		if runStart >= 0 && !lastOK.IsZero() {
			if d := pr.sent.Sub(lastOK); d > outage {
				outage = d
			}
		}
		runStart = -1
		lastOK = pr.sent
	}
	if runStart >= 0 && len(probes) > 0 { // never recovered
		outage = max(outage, probes[len(probes)-1].sent.Sub(lastOK))
	}
	return outage, lost, len(probes)
}

// waitReachable polls target from the client until a connect succeeds.
func l2WaitReachable(ctx context.Context, client *netlab.Host, target netip.AddrPort, bound time.Duration) bool {
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		c, err := client.DialContext(dctx, "tcp", target.String())
		cancel()
		if err == nil {
			c.Close()
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// percentile returns the nearest-rank p-th percentile of ds.
func l2Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func l2ms(d time.Duration) int64 { return d.Round(time.Millisecond).Milliseconds() }

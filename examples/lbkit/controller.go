package main

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/lbkit/lbkit/k8s/controller"
	"github.com/lbkit/lbkit/k8s/crds"
	"github.com/lbkit/lbkit/k8s/source"
)

// errLeadershipLost ends the controller when another replica took the
// Lease: its allocator may be stale, so it exits and restarts as a
// follower.
var errLeadershipLost = errors.New("leadership lost")

// runController runs the configuration source and the address allocator,
// under leader election unless disabled, until ctx is done.
func runController(ctx context.Context, o controllerOptions, log *slog.Logger) error {
	c, err := newClients(o.commonOptions, "lbkit-controller")
	if err != nil {
		return err
	}
	if o.installCRDs {
		if err := crds.Install(ctx, c.dynamic); err != nil {
			return err
		}
		log.Info("CRDs installed")
	}
	reg := newRegistry()
	ctrl, err := controller.New(controller.Config{
		Client: c.client, Dynamic: c.dynamic, Namespace: o.namespace,
		LoadBalancerClass: o.lbClass, Workers: o.workers, Logger: log, Registerer: reg,
	})
	if err != nil {
		return err
	}
	src, err := source.New(source.Config{Dynamic: c.dynamic, Client: c.client, Namespace: o.namespace, Logger: log})
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	if o.metricsAddr != "" {
		ms, err := listenMetrics(o.metricsAddr, reg, log)
		if err != nil {
			return err
		}
		g.Go(func() error { return ms.Run(gctx) })
	}
	work := func(ctx context.Context) error {
		return runTogether(ctx,
			func(ctx context.Context) error {
				return src.Run(ctx, func(s source.Snapshot) { ctrl.ApplyConfig(ctx, s) })
			},
			ctrl.Run)
	}
	log.Info("starting", "namespace", o.namespace, "lb_class", o.lbClass, "leader_elect", o.leaderElect, "identity", o.identity)
	if !o.leaderElect {
		g.Go(func() error { return work(gctx) })
	} else {
		g.Go(func() error { return asLeader(gctx, o, c, log, work) })
	}
	err = g.Wait()
	log.Info("stopped", "error", err)
	return err
}

// asLeader runs work while this replica holds the Lease. It returns nil
// when ctx is done, errLeadershipLost when the Lease went to another
// replica, and work's error when work fails (the Lease is released then).
func asLeader(ctx context.Context, o controllerOptions, c clients, log *slog.Logger, work func(context.Context) error) error {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The elector starts the callback on a goroutine of its own and does
	// not wait for it: done lets us wait, and a callback that starts
	// after RunAsLeader returned (finished) does nothing.
	var (
		mu       sync.Mutex // guards the three below
		finished bool
		done     chan struct{}
		workErr  error
	)
	err := controller.RunAsLeader(lctx, controller.LeaderConfig{
		Client: c.client, Namespace: o.namespace, Name: o.leaseName, Identity: o.identity, Logger: log,
	}, func(ctx context.Context) {
		ch := make(chan struct{})
		mu.Lock()
		if finished {
			mu.Unlock()
			return
		}
		done = ch
		mu.Unlock()
		defer close(ch)
		log.Info("leading: allocating addresses")
		err := work(ctx)
		mu.Lock()
		workErr = err
		mu.Unlock()
		cancel() // stop renewing: nothing runs any more
	})
	cancel()
	mu.Lock()
	finished = true
	ch := done
	mu.Unlock()
	if ch != nil {
		<-ch
	}
	if err != nil {
		return err
	}
	mu.Lock()
	defer mu.Unlock()
	switch {
	case workErr != nil:
		return workErr
	case ctx.Err() != nil:
		return nil
	default:
		return errLeadershipLost
	}
}

package controller_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lbkit/lbkit/k8s/controller"
)

// TestLeaderElection: of two replicas, only the Lease holder runs; when it
// stops, the other takes over.
func TestLeaderElection(t *testing.T) {
	c := startCluster(t)
	var running, maxRunning atomic.Int32
	var ran [2]atomic.Bool
	start := func(i int, id string) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			err := controller.RunAsLeader(ctx, controller.LeaderConfig{
				Client: c.client, Namespace: configNS, Identity: id,
				LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 100 * time.Millisecond,
			}, func(ctx context.Context) {
				n := running.Add(1)
				for {
					m := maxRunning.Load()
					if n <= m || maxRunning.CompareAndSwap(m, n) {
						break
					}
				}
				ran[i].Store(true)
				<-ctx.Done()
				running.Add(-1)
			})
			if err != nil {
				t.Error(err)
			}
		}()
		return func() { cancel(); <-done }
	}
	stopA := start(0, "replica-a")
	deadline := time.Now().Add(10 * time.Second)
	for !ran[0].Load() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !ran[0].Load() {
		t.Fatal("replica-a never became leader")
	}
	stopB := start(1, "replica-b")
	defer stopB()
	time.Sleep(3 * time.Second) // longer than the lease: b must still wait
	if ran[1].Load() {
		t.Fatal("replica-b ran while replica-a held the lease")
	}
	stopA()
	deadline = time.Now().Add(10 * time.Second)
	for !ran[1].Load() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if !ran[1].Load() {
		t.Fatal("replica-b did not take over after replica-a stopped")
	}
	if m := maxRunning.Load(); m != 1 {
		t.Fatalf("%d replicas ran at once", m)
	}
}

package controller

import (
	"context"
	"errors"
	"log/slog"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// LeaderConfig configures RunAsLeader.
type LeaderConfig struct {
	// Client is used for the Lease. Required.
	Client kubernetes.Interface
	// Namespace and Name locate the Lease; Name defaults to "lbkit-controller".
	Namespace, Name string
	// Identity names this replica; required and unique among replicas.
	Identity string
	// LeaseDuration, RenewDeadline and RetryPeriod default to 15 s, 10 s and 2 s.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// RunAsLeader runs run only while this replica holds the Lease, so two
// replicas never allocate at once. run's context is cancelled when the
// lease is lost; RunAsLeader returns when ctx is done or leadership is lost
// (the caller should then exit, as its allocator state may be stale).
func RunAsLeader(ctx context.Context, cfg LeaderConfig, run func(ctx context.Context)) error {
	if cfg.Client == nil || cfg.Identity == "" || cfg.Namespace == "" {
		return errors.New("controller: LeaderConfig needs Client, Namespace and Identity")
	}
	if cfg.Name == "" {
		cfg.Name = "lbkit-controller"
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = 15 * time.Second
	}
	if cfg.RenewDeadline == 0 {
		cfg.RenewDeadline = 10 * time.Second
	}
	if cfg.RetryPeriod == 0 {
		cfg.RetryPeriod = 2 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: cfg.Namespace, Name: cfg.Name},
		Client:     cfg.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: cfg.Identity},
	}
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   cfg.LeaseDuration,
		RenewDeadline:   cfg.RenewDeadline,
		RetryPeriod:     cfg.RetryPeriod,
		ReleaseOnCancel: true,
		Name:            cfg.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: run,
			OnStoppedLeading: func() { log.Info("leadership released", "identity", cfg.Identity) },
			OnNewLeader: func(id string) {
				log.Info("leader", "identity", id, "self", id == cfg.Identity)
			},
		},
	})
	if err != nil {
		return err
	}
	le.Run(ctx)
	return nil
}

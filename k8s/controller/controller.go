package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/lbkit/lbkit/allocator"
	"github.com/lbkit/lbkit/k8s/api/v1beta1"
)

// Config configures a Controller. Zero fields take the documented defaults.
type Config struct {
	// Client talks to the API server. Required.
	Client kubernetes.Interface
	// Allocator holds the assignments; nil means a new, empty one.
	Allocator *allocator.Allocator
	// LoadBalancerClass selects the Services handled: those whose
	// spec.loadBalancerClass equals it, or, when empty, those with no class.
	LoadBalancerClass string
	// Workers is the number of services synced in parallel; 0 means 8.
	Workers int
	// ResyncPeriod re-lists the informers' caches; 0 means never.
	ResyncPeriod time.Duration
	// Logger receives the controller's logs; nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the controller's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Recorder records events; nil means events written to the API server
	// as component "lbkit-controller".
	Recorder record.EventRecorder
	// Dynamic, when set, is used to write metallb.io status: the
	// ConfigurationState "controller" and IPAddressPool status, in
	// Namespace (the configuration's namespace).
	Dynamic   dynamic.Interface
	Namespace string
}

// Controller allocates addresses to LoadBalancer Services. Create it with
// New and start it with Run; ApplyPools may be called at any time, and
// Run does not allocate anything before the first ApplyPools.
type Controller struct {
	client      kubernetes.Interface
	alloc       *allocator.Allocator
	class       string
	workers     int
	log         *slog.Logger
	factory     informers.SharedInformerFactory
	services    corelisters.ServiceLister
	namespaces  corelisters.NamespaceLister
	synced      []cache.InformerSynced
	queue       workqueue.TypedRateLimitingInterface[string]
	recorder    record.EventRecorder
	broadcaster record.EventBroadcaster
	metrics     *metrics

	poolsOnce  sync.Once
	poolsReady chan struct{}
	restored   chan struct{}

	dynamic   dynamic.Interface
	namespace string
	poolDirty chan struct{}

	cfgMu sync.Mutex // guards haveGood, poolObjects; serialises ApplyConfig
	// haveGood is true once a configuration has been applied.
	haveGood bool
	// poolObjects are the IPAddressPools of the configuration in force.
	poolObjects []v1beta1.IPAddressPool

	mu sync.Mutex // guards pending
	// pending holds services that failed to get an address; they are
	// retried when addresses may have become free (a release, new pools).
	pending map[string]struct{}
}

// New builds a Controller. It starts no goroutines.
func New(cfg Config) (*Controller, error) {
	if cfg.Client == nil {
		return nil, errors.New("controller: Config.Client is required")
	}
	c := &Controller{
		client:     cfg.Client,
		alloc:      cfg.Allocator,
		class:      cfg.LoadBalancerClass,
		workers:    cfg.Workers,
		log:        cfg.Logger,
		recorder:   cfg.Recorder,
		poolsReady: make(chan struct{}),
		restored:   make(chan struct{}),
		pending:    map[string]struct{}{},
		dynamic:    cfg.Dynamic,
		namespace:  cfg.Namespace,
		poolDirty:  make(chan struct{}, 1),
	}
	if c.dynamic != nil && c.namespace == "" {
		return nil, errors.New("controller: Config.Namespace is required with Config.Dynamic")
	}
	if c.alloc == nil {
		c.alloc = allocator.New(allocator.Config{})
	}
	if c.workers <= 0 {
		c.workers = 8
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("component", "controller")
	if c.recorder == nil {
		c.broadcaster = record.NewBroadcaster()
		c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "lbkit-controller"})
	}
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "lbkit-services"},
	)
	c.factory = informers.NewSharedInformerFactory(cfg.Client, cfg.ResyncPeriod)
	svcInformer := c.factory.Core().V1().Services()
	nsInformer := c.factory.Core().V1().Namespaces()
	c.services = svcInformer.Lister()
	c.namespaces = nsInformer.Lister()
	c.synced = []cache.InformerSynced{svcInformer.Informer().HasSynced, nsInformer.Informer().HasSynced}
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
	}
	if _, err := svcInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	// A namespace's labels feed pool selection: re-sync its services.
	if _, err := nsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(old, obj any) {
			o, n := old.(*corev1.Namespace), obj.(*corev1.Namespace)
			if labelsEqual(o.Labels, n.Labels) {
				return
			}
			c.enqueueNamespace(n.Name)
		},
	}); err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	if cfg.Registerer != nil {
		m, err := newMetrics(cfg.Registerer, c.alloc)
		if err != nil {
			return nil, err
		}
		c.metrics = m
	}
	return c, nil
}

// Allocator returns the allocator the controller fills.
func (c *Controller) Allocator() *allocator.Allocator { return c.alloc }

// Restored is closed once every address found in Service status at start
// has been restored, just before the first new allocation can happen.
func (c *Controller) Restored() <-chan struct{} { return c.restored }

// Run starts the informers, waits for their caches and for the first
// ApplyPools, restores the addresses already in Service status, then syncs
// services with the configured number of workers until ctx is done. It
// returns after every goroutine it started has exited.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	if c.broadcaster != nil {
		c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
		defer c.broadcaster.Shutdown()
	}
	c.factory.Start(ctx.Done())
	defer c.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return fmt.Errorf("controller: caches did not sync: %w", context.Cause(ctx))
	}
	c.log.Info("caches synced; waiting for the first pool configuration")
	select {
	case <-c.poolsReady:
	case <-ctx.Done():
		return nil
	}
	c.restore(ctx)
	close(c.restored)

	var wg sync.WaitGroup
	if c.dynamic != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.runPoolStatus(ctx, time.Second)
		}()
	}
	for i := 0; i < c.workers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wait.UntilWithContext(ctx, c.worker, time.Second)
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	return nil
}

func (c *Controller) worker(ctx context.Context) {
	for c.processNext(ctx) {
	}
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, quit := c.queue.Get()
	if quit {
		return false
	}
	defer c.queue.Done(key)
	if err := c.sync(ctx, key); err != nil {
		c.log.Warn("sync failed; retrying", "service", key, "error", err)
		c.queue.AddRateLimited(key)
		return true
	}
	c.queue.Forget(key)
	return true
}

// ApplyPools replaces the pool set. It never moves or drops an address: an
// assignment the new set strands or makes ineligible is kept and reported
// with a Warning event on its Service. It returns the report, or an error
// (overlapping pools, ...) in which case nothing changed.
func (c *Controller) ApplyPools(pools []allocator.Pool) (allocator.Report, error) {
	report, err := c.alloc.SetPools(pools)
	if err != nil {
		return report, err
	}
	for _, ch := range report.Changes {
		c.reportChange(ch)
		c.queue.Add(ch.Service)
	}
	c.retryPending()
	c.poolsOnce.Do(func() { close(c.poolsReady) })
	return report, nil
}

// WhatIf reports what ApplyPools(pools) would do, without doing it.
func (c *Controller) WhatIf(pools []allocator.Pool) (allocator.Report, error) {
	return c.alloc.WhatIf(pools)
}

func (c *Controller) reportChange(ch allocator.Change) {
	svc := c.service(ch.Service)
	var reason, msg string
	switch ch.Reason {
	case allocator.Stranded:
		reason = "AddressStranded"
		msg = fmt.Sprintf("addresses %v are in no configured pool (were in %q); they stay assigned until the service is changed or deleted", ch.Addresses, ch.OldPool)
	case allocator.Ineligible:
		reason = "PoolIneligible"
		msg = fmt.Sprintf("pool %q no longer admits this service; addresses %v stay assigned until the service is changed or deleted", ch.NewPool, ch.Addresses)
	default:
		c.log.Info("service addresses now belong to another pool", "service", ch.Service, "old_pool", ch.OldPool, "new_pool", ch.NewPool)
		return
	}
	c.log.Warn(msg, "service", ch.Service, "reason", reason)
	if svc != nil {
		c.recorder.Event(svc, corev1.EventTypeWarning, reason, msg)
	}
}

func (c *Controller) service(key string) *corev1.Service {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if err != nil {
		return nil
	}
	return svc
}

func (c *Controller) enqueueNamespace(ns string) {
	svcs, err := c.services.Services(ns).List(everything)
	if err != nil {
		return
	}
	for _, s := range svcs {
		c.queue.Add(s.Namespace + "/" + s.Name)
	}
}

func (c *Controller) markPending(key string, pending bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if pending {
		c.pending[key] = struct{}{}
	} else {
		delete(c.pending, key)
	}
}

// retryPending queues every service still waiting for an address.
func (c *Controller) retryPending() {
	c.mu.Lock()
	keys := make([]string, 0, len(c.pending))
	for k := range c.pending {
		keys = append(keys, k)
	}
	c.mu.Unlock()
	sort.Strings(keys)
	for _, k := range keys {
		c.queue.Add(k)
	}
}

func labelsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

package speaker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/client-go/util/workqueue"

	"github.com/lbkit/lbkit/announce"
	"github.com/lbkit/lbkit/k8s/config"
	"github.com/lbkit/lbkit/k8s/source"
	"github.com/lbkit/lbkit/membership"
)

// Event reasons on Services.
const (
	// ReasonNodeAssigned: this node started announcing the service
	// (MetalLB's reason).
	ReasonNodeAssigned = "nodeAssigned"
	// ReasonAnnounceFailed: an announcer refused the announcement.
	ReasonAnnounceFailed = "AnnounceFailed"
)

// Protocol names, as in events, metrics and MetalLB's messages.
const (
	ProtocolL2  = "layer2"
	ProtocolBGP = "bgp"
)

// indexByService indexes EndpointSlices by "namespace/service".
const indexByService = "service"

// Speaker announces, from this node, the addresses the controller gave to
// LoadBalancer Services. Create it with New, feed it the configuration
// with ApplyConfig and start it with Run. It is safe for concurrent use.
type Speaker struct {
	cfg         Config
	log         *slog.Logger
	factory     informers.SharedInformerFactory
	services    corelisters.ServiceLister
	nodes       corelisters.NodeLister
	epSlices    cache.Indexer
	synced      []cache.InformerSynced
	queue       workqueue.TypedRateLimitingInterface[string]
	recorder    record.EventRecorder
	broadcaster record.EventBroadcaster
	metrics     *metrics
	status      *statusWriter // nil without Config.Dynamic
	statusQ     *statusQueue  // nil without Config.Dynamic
	peersKick   chan struct{}
	configured  chan struct{} // closed by the first ApplyConfig
	configOnce  sync.Once

	// peers and peersApplied are the sessions last handed to the BGP
	// announcer; only syncPeers touches them.
	peers        []announce.BGPPeer
	peersApplied bool

	// reconcileMu serialises deciding and announcing, so that the
	// membership subscriber and the workers never race on one service.
	// It is held across Announce and Withdraw: the announce contract has
	// them record the desired state and return, so the wait is bounded.
	reconcileMu sync.Mutex

	mu sync.Mutex
	// Fields below are guarded by mu.
	current  config.Config       // the configuration in force
	haveGood bool                // a configuration has been applied
	states   map[string]svcState // what is announced, by service key
	watching []string            // the set last passed to Liveness.Watch
	l2Ready  bool                // membership is ready: layer 2 may claim
	stopping bool                // Run is withdrawing: announce nothing more
}

// svcState is what this node announces for one service.
type svcState struct {
	l2       *announce.Announcement
	bgp      *announce.Announcement
	bgpPeers []string
	watch    []string
}

func (st svcState) empty() bool { return st.l2 == nil && st.bgp == nil && len(st.watch) == 0 }

// New builds a Speaker. It starts no goroutines.
func New(cfg Config) (*Speaker, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Speaker{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "speaker", "node", cfg.NodeName),
		recorder:   cfg.Recorder,
		peersKick:  make(chan struct{}, 1),
		configured: make(chan struct{}),
		states:     map[string]svcState{},
	}
	if s.recorder == nil {
		s.broadcaster = record.NewBroadcaster()
		s.recorder = s.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "lbkit-speaker", Host: cfg.NodeName})
	}
	s.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "lbkit-speaker"},
	)
	s.factory = informers.NewSharedInformerFactory(cfg.Client, cfg.ResyncPeriod)
	svcInf := s.factory.Core().V1().Services()
	nodeInf := s.factory.Core().V1().Nodes()
	epInf := s.factory.Discovery().V1().EndpointSlices()
	if err := epInf.Informer().AddIndexers(cache.Indexers{indexByService: sliceServiceKey}); err != nil {
		return nil, fmt.Errorf("speaker: %w", err)
	}
	s.services = svcInf.Lister()
	s.nodes = nodeInf.Lister()
	s.epSlices = epInf.Informer().GetIndexer()
	s.synced = []cache.InformerSynced{svcInf.Informer().HasSynced, nodeInf.Informer().HasSynced, epInf.Informer().HasSynced}

	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			s.queue.Add(key)
		}
	}
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{svcInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: enqueue, UpdateFunc: func(_, o any) { enqueue(o) }, DeleteFunc: enqueue}},
		{epInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: s.sliceChanged, UpdateFunc: func(_, o any) { s.sliceChanged(o) }, DeleteFunc: s.sliceChanged}},
		{nodeInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { s.nodeChanged(nil, o) },
			UpdateFunc: s.nodeChanged,
			DeleteFunc: func(o any) { s.nodeChanged(nil, o) }}},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			return nil, fmt.Errorf("speaker: %w", err)
		}
	}
	if cfg.Dynamic != nil {
		s.status = newStatusWriter(cfg.Dynamic, cfg.Namespace, cfg.NodeName)
		s.statusQ = newStatusQueue(cfg.StatusQPS, cfg.StatusBurst)
	}
	if cfg.Registerer != nil {
		m, err := newMetrics(cfg.Registerer, cfg.BGPStatus, cfg.L2Stats)
		if err != nil {
			return nil, err
		}
		s.metrics = m
	}
	return s, nil
}

// sliceServiceKey indexes an EndpointSlice by the service it belongs to.
func sliceServiceKey(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	name := s.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + name}, nil
}

func (s *Speaker) sliceChanged(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if keys, _ := sliceServiceKey(obj); len(keys) > 0 {
		s.queue.Add(keys[0])
	}
}

// nodeChanged re-decides every service when a node's eligibility may have
// changed; for this node it also re-derives the BGP sessions.
func (s *Speaker) nodeChanged(old, obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	n, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	if o, ok := old.(*corev1.Node); ok && reflect.DeepEqual(o.Labels, n.Labels) && usable(o) == usable(n) {
		return
	}
	if n.Name == s.cfg.NodeName {
		s.kickPeers()
	}
	s.enqueueAll()
}

func (s *Speaker) kickPeers() {
	select {
	case s.peersKick <- struct{}{}:
	default:
	}
}

// enqueueAll queues every service, and every service something is
// announced for (it may be gone).
func (s *Speaker) enqueueAll() {
	svcs, _ := s.services.List(labels.Everything())
	for _, svc := range svcs {
		s.queue.Add(svc.Namespace + "/" + svc.Name)
	}
	s.mu.Lock()
	keys := sortedKeys(s.states)
	s.mu.Unlock()
	for _, k := range keys {
		s.queue.Add(k)
	}
}

// ApplyConfig takes a configuration snapshot (from package k8s/source).
// A snapshot with errors does not replace a configuration that works: the
// last good one stays in force and the config_stale metric says so; the
// errors are logged (the controller raises events on the objects). The
// first snapshot is applied even with errors (its valid objects), since
// nothing works before it. Run announces nothing before the first call.
func (s *Speaker) ApplyConfig(ctx context.Context, snap source.Snapshot) {
	for _, e := range snap.Errors {
		s.log.Warn("invalid configuration object", "kind", e.Kind, "object", e.Object(), "field", e.Field, "error", e.Err)
	}
	s.mu.Lock()
	applied := len(snap.Errors) == 0 || !s.haveGood
	if applied {
		s.current = snap.Config
		s.haveGood = true
	}
	s.mu.Unlock()
	if s.metrics != nil {
		s.metrics.loaded.Set(1)
		s.metrics.stale.Set(b2f(len(snap.Errors) > 0))
	}
	if s.cfg.Dynamic != nil {
		labels := map[string]string{source.LabelComponentType: "speaker", source.LabelNodeName: s.cfg.NodeName}
		if err := source.WriteState(ctx, s.cfg.Dynamic, s.cfg.Namespace, "speaker-"+s.cfg.NodeName, labels, snap.Errors); err != nil {
			s.log.Warn("cannot write ConfigurationState", "error", err)
		}
	}
	if !applied {
		s.log.Error("configuration has errors; the last good one stays in force", "errors", len(snap.Errors))
		return
	}
	s.configOnce.Do(func() { close(s.configured) })
	s.kickPeers()
	s.enqueueAll()
}

// Run starts the informers, waits for their caches and the first
// ApplyConfig, then announces until ctx is done. Then it withdraws every
// announcement through the announcers and deletes its status objects
// (within Config.StopTimeout), and returns after every goroutine it
// started has exited. The announcers' own Run (run by the caller) does the
// graceful part: stop the BGP announcer before the speaker to keep its
// GRACEFUL_SHUTDOWN phase, and drain membership before both to hand
// layer 2 addresses over.
func (s *Speaker) Run(ctx context.Context) error {
	defer s.queue.ShutDown()
	if s.broadcaster != nil {
		s.broadcaster.StartRecordingToSink(&limitedSink{
			sink:    &typedcorev1.EventSinkImpl{Interface: s.cfg.Client.CoreV1().Events("")},
			limiter: flowcontrol.NewTokenBucketRateLimiter(s.cfg.EventQPS, s.cfg.EventBurst),
			ctx:     ctx,
		})
		defer s.broadcaster.Shutdown()
	}
	s.factory.Start(ctx.Done())
	defer s.factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), s.synced...) {
		return fmt.Errorf("speaker: caches did not sync: %w", context.Cause(ctx))
	}
	s.log.Info("caches synced; waiting for the first configuration")
	select {
	case <-s.configured:
	case <-ctx.Done():
		return nil
	}

	var wg sync.WaitGroup
	goRun := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	if s.cfg.L2 != nil {
		unsubscribe := s.cfg.Liveness.Subscribe(func(ev membership.Event) { s.onMembership(ctx, ev) })
		defer unsubscribe()
		ready := closedChan
		if r, ok := s.cfg.Liveness.(readier); ok {
			ready = r.Ready()
		}
		goRun(func() {
			select {
			case <-ready:
			case <-ctx.Done():
				return
			}
			s.mu.Lock()
			s.l2Ready = true
			s.mu.Unlock()
			s.log.Info("membership ready; layer 2 announcements enabled")
			s.enqueueAll()
		})
	}
	if s.cfg.BGP != nil {
		goRun(func() { s.runPeers(ctx) })
	}
	if s.status != nil {
		// Status objects left by an earlier run name services to revisit.
		for _, k := range s.status.leftovers(ctx, s.log) {
			s.queue.Add(k)
		}
	}
	s.enqueueAll()
	for i := 0; i < s.cfg.Workers; i++ {
		goRun(func() { wait.UntilWithContext(ctx, s.worker, time.Second) })
	}
	if s.statusQ != nil {
		goRun(func() { s.statusQ.run(ctx, s) })
	}
	<-ctx.Done()
	s.queue.ShutDown()
	if s.statusQ != nil {
		s.statusQ.queue.ShutDown()
	}
	wg.Wait()
	s.stop()
	return nil
}

var closedChan = func() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

func (s *Speaker) worker(ctx context.Context) {
	for s.processNext(ctx) {
	}
}

func (s *Speaker) processNext(ctx context.Context) bool {
	key, quit := s.queue.Get()
	if quit {
		return false
	}
	defer s.queue.Done(key)
	if err := s.sync(ctx, key); err != nil {
		if ctx.Err() == nil {
			s.log.Warn("sync failed; retrying", "service", key, "error", err)
			s.queue.AddRateLimited(key)
		}
		return true
	}
	s.queue.Forget(key)
	return true
}

// sync brings what this node announces for one service, and the status
// objects saying so, in line with the API objects. It is idempotent.
func (s *Speaker) sync(ctx context.Context, key string) error {
	s.reconcileMu.Lock()
	base := s.baseView()
	st, err := s.reconcileLocked(ctx, key, base)
	s.reconcileMu.Unlock()
	if s.statusQ != nil {
		s.statusQ.set(key, st, base.alive)
	}
	return err
}

// onMembership re-elects at once when the alive view changes, before the
// subscriber returns (see Liveness.Subscribe); status follows through the
// queue.
func (s *Speaker) onMembership(ctx context.Context, ev membership.Event) {
	if ev.Kind == membership.Reclaim {
		if r, ok := s.cfg.L2.(reannouncer); ok {
			r.Reannounce()
		}
		return
	}
	s.reconcileMu.Lock()
	defer s.reconcileMu.Unlock()
	base := s.baseView()
	svcs, _ := s.services.List(labels.Everything())
	keys := make([]string, 0, len(svcs))
	for _, svc := range svcs {
		keys = append(keys, svc.Namespace+"/"+svc.Name)
	}
	s.mu.Lock()
	keys = append(keys, sortedKeys(s.states)...)
	s.mu.Unlock()
	slices.Sort(keys)
	keys = slices.Compact(keys)
	for _, k := range keys {
		if _, err := s.reconcileLocked(ctx, k, base); err != nil {
			s.log.Warn("re-election failed", "service", k, "error", err)
		}
		s.queue.Add(k)
	}
}

// baseView snapshots what every decision of one pass shares.
func (s *Speaker) baseView() view {
	s.mu.Lock()
	v := view{self: s.cfg.NodeName, class: s.cfg.LoadBalancerClass, cfg: s.current,
		l2: s.cfg.L2 != nil && s.l2Ready, bgp: s.cfg.BGP != nil}
	s.mu.Unlock()
	nodes, _ := s.nodes.List(labels.Everything())
	v.nodes = make(map[string]*corev1.Node, len(nodes))
	for _, n := range nodes {
		v.nodes[n.Name] = n
	}
	if v.l2 {
		v.alive = s.cfg.Liveness.Alive()
	}
	return v
}

// reconcileLocked decides for one service and tells the announcers what
// changed. It returns the state now in force. reconcileMu must be held.
func (s *Speaker) reconcileLocked(ctx context.Context, key string, v view) (svcState, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return svcState{}, nil // a malformed key never becomes valid
	}
	if svc, err := s.services.Services(ns).Get(name); err == nil {
		v.svc = svc
	}
	objs, _ := s.epSlices.ByIndex(indexByService, key)
	for _, o := range objs {
		if es, ok := o.(*discoveryv1.EndpointSlice); ok {
			v.slices = append(v.slices, es)
		}
	}
	p := decide(key, v)

	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return svcState{}, nil
	}
	old := s.states[key]
	s.mu.Unlock()

	next := old
	next.watch = p.watch
	var errs []error
	if s.cfg.L2 != nil && !sameAnnouncement(old.l2, p.l2) {
		if err := s.apply(ctx, s.cfg.L2, ProtocolL2, key, v.svc, p.l2, p.reason); err != nil {
			errs = append(errs, err)
			next.l2 = nil // unknown: the next sync announces again
		} else {
			next.l2 = p.l2
		}
	}
	if s.cfg.BGP != nil && (!sameAnnouncement(old.bgp, p.bgp) || !slices.Equal(old.bgpPeers, p.bgpPeers)) {
		if err := s.apply(ctx, s.cfg.BGP, ProtocolBGP, key, v.svc, p.bgp, p.reason); err != nil {
			errs = append(errs, err)
			next.bgp, next.bgpPeers = nil, nil
		} else {
			next.bgp, next.bgpPeers = p.bgp, p.bgpPeers
		}
	}

	s.mu.Lock()
	if next.empty() {
		delete(s.states, key)
	} else {
		s.states[key] = next
	}
	watch := s.watchSetLocked()
	changed := !slices.Equal(watch, s.watching)
	s.watching = watch
	s.mu.Unlock()
	if w, ok := s.cfg.Liveness.(watcher); ok && changed {
		w.Watch(watch)
	}
	if s.metrics != nil {
		s.metrics.set(key, old, next)
	}
	return next, errors.Join(errs...)
}

// watchSetLocked is the union of the per-service watch lists; mu held.
func (s *Speaker) watchSetLocked() []string {
	var out []string
	for _, st := range s.states {
		out = append(out, st.watch...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// apply announces a (nil: withdraws) through one announcer, with the
// event and log saying so.
func (s *Speaker) apply(ctx context.Context, an announce.Announcer, proto, key string, svc *corev1.Service, a *announce.Announcement, reason string) error {
	if a == nil {
		if err := an.Withdraw(ctx, key); err != nil {
			if s.metrics != nil {
				s.metrics.failures.WithLabelValues(proto).Inc()
			}
			return fmt.Errorf("withdraw %s via %s: %w", key, proto, err)
		}
		s.log.Info("withdrawn", "service", key, "protocol", proto, "reason", reason)
		return nil
	}
	if err := an.Announce(ctx, *a); err != nil {
		if s.metrics != nil {
			s.metrics.failures.WithLabelValues(proto).Inc()
		}
		if svc != nil {
			s.recorder.Eventf(svc, corev1.EventTypeWarning, ReasonAnnounceFailed,
				"node %q failed to announce %v with protocol %q: %v", s.cfg.NodeName, a.Addresses, proto, err)
		}
		return fmt.Errorf("announce %s via %s: %w", key, proto, err)
	}
	s.log.Info("announced", "service", key, "protocol", proto, "addresses", a.Addresses)
	if svc != nil {
		s.recorder.Eventf(svc, corev1.EventTypeNormal, ReasonNodeAssigned,
			"announcing from node %q with protocol %q", s.cfg.NodeName, proto)
	}
	return nil
}

func sameAnnouncement(a, b *announce.Announcement) bool {
	if a == nil || b == nil {
		return a == b
	}
	return reflect.DeepEqual(*a, *b)
}

// runPeers keeps the BGP sessions in line with the configuration and this
// node's labels.
func (s *Speaker) runPeers(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.peersKick:
		}
		s.syncPeers(ctx)
	}
}

// syncPeers hands the BGP announcer the sessions this node holds, when
// they changed. Only runPeers (and tests) call it.
func (s *Speaker) syncPeers(ctx context.Context) {
	self, err := s.nodes.Get(s.cfg.NodeName)
	if err != nil {
		s.log.Warn("own Node object not found; BGP sessions unchanged", "error", err)
		return
	}
	s.mu.Lock()
	want := s.current.PeersFor(self.Labels)
	s.mu.Unlock()
	if s.peersApplied && reflect.DeepEqual(want, s.peers) {
		return
	}
	if err := s.cfg.BGP.SetPeers(ctx, want); err != nil {
		s.log.Error("BGP peers rejected", "error", err)
		return
	}
	names := make([]string, len(want))
	for i, p := range want {
		names[i] = p.Name
	}
	s.log.Info("BGP peers set", "peers", names)
	s.peers, s.peersApplied = want, true
	// Which peers a service targets depends on the sessions.
	s.enqueueAll()
}

// stop withdraws everything and removes this node's status objects.
func (s *Speaker) stop() {
	ctx, cancel := s.cfg.stopContext()
	defer cancel()
	s.reconcileMu.Lock()
	s.mu.Lock()
	s.stopping = true
	states := s.states
	s.states = map[string]svcState{}
	s.mu.Unlock()
	for _, key := range sortedKeys(states) {
		st := states[key]
		if st.l2 != nil {
			if err := s.cfg.L2.Withdraw(ctx, key); err != nil {
				s.log.Warn("withdraw on stop", "service", key, "protocol", ProtocolL2, "error", err)
			}
		}
		if st.bgp != nil {
			if err := s.cfg.BGP.Withdraw(ctx, key); err != nil {
				s.log.Warn("withdraw on stop", "service", key, "protocol", ProtocolBGP, "error", err)
			}
		}
		if s.metrics != nil {
			s.metrics.set(key, st, svcState{})
		}
	}
	s.reconcileMu.Unlock()
	if s.status != nil {
		s.status.deleteAll(ctx, s.log)
	}
	s.log.Info("stopped; announcements withdrawn", "services", len(states))
}

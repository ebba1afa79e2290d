// Package source watches the metallb.io configuration objects of one
// namespace (and the Secrets BGPPeers refer to) and hands each consistent
// snapshot, translated by package k8s/config, to a callback. The controller
// and the speaker both consume it.
package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/lbkit/lbkit/k8s/api/v1beta1"
	"github.com/lbkit/lbkit/k8s/api/v1beta2"
	"github.com/lbkit/lbkit/k8s/config"
)

// The metallb.io resources that make up the configuration.
var (
	IPAddressPools    = v1beta1.IPAddressPoolsResource
	L2Advertisements  = v1beta1.L2AdvertisementsResource
	BGPAdvertisements = v1beta1.BGPAdvertisementsResource
	BFDProfiles       = v1beta1.BFDProfilesResource
	Communities       = v1beta1.CommunitiesResource
	BGPPeers          = v1beta2.BGPPeersResource
)

// Config configures a Source.
type Config struct {
	// Dynamic and Client talk to the API server. Required.
	Dynamic dynamic.Interface
	Client  kubernetes.Interface
	// Namespace holds the configuration objects (MetalLB's is
	// "metallb-system"). Required.
	Namespace string
	// Debounce groups bursts of changes into one snapshot; 0 means 50 ms.
	Debounce time.Duration
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Snapshot is one translated view of the configuration.
type Snapshot struct {
	Config config.Config
	Errors config.Errors
	// Resources are the objects it was built from.
	Resources config.Resources
}

// Source watches the configuration. Create it with New, start it with Run.
type Source struct {
	cfg     Config
	log     *slog.Logger
	dyn     dynamicinformer.DynamicSharedInformerFactory
	core    informers.SharedInformerFactory
	listers map[schema.GroupVersionResource]cache.GenericLister
	secrets cache.GenericLister
	synced  []cache.InformerSynced
	changed chan struct{}
}

// New builds a Source; it starts no goroutines.
func New(cfg Config) (*Source, error) {
	if cfg.Dynamic == nil || cfg.Client == nil || cfg.Namespace == "" {
		return nil, errors.New("source: Config needs Dynamic, Client and Namespace")
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Source{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "config-source"),
		dyn:     dynamicinformer.NewFilteredDynamicSharedInformerFactory(cfg.Dynamic, 0, cfg.Namespace, nil),
		core:    informers.NewSharedInformerFactoryWithOptions(cfg.Client, 0, informers.WithNamespace(cfg.Namespace)),
		listers: map[schema.GroupVersionResource]cache.GenericLister{},
		changed: make(chan struct{}, 1),
	}
	notify := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.notify() },
		UpdateFunc: func(any, any) { s.notify() },
		DeleteFunc: func(any) { s.notify() },
	}
	for _, gvr := range []schema.GroupVersionResource{IPAddressPools, L2Advertisements, BGPAdvertisements, BFDProfiles, Communities, BGPPeers} {
		inf := s.dyn.ForResource(gvr)
		if _, err := inf.Informer().AddEventHandler(notify); err != nil {
			return nil, err
		}
		s.listers[gvr] = inf.Lister()
		s.synced = append(s.synced, inf.Informer().HasSynced)
	}
	sec := s.core.Core().V1().Secrets()
	if _, err := sec.Informer().AddEventHandler(notify); err != nil {
		return nil, err
	}
	s.secrets = &secretLister{sec.Lister()}
	s.synced = append(s.synced, sec.Informer().HasSynced)
	return s, nil
}

func (s *Source) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Run watches until ctx is done. It calls apply with a first snapshot once
// every cache has synced, then after each burst of changes. apply runs on
// Run's goroutine, one call at a time.
func (s *Source) Run(ctx context.Context, apply func(Snapshot)) error {
	s.dyn.Start(ctx.Done())
	s.core.Start(ctx.Done())
	defer s.dyn.Shutdown()
	defer s.core.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), s.synced...) {
		return fmt.Errorf("source: caches did not sync: %w", context.Cause(ctx))
	}
	apply(s.Snapshot())
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.changed:
		}
		// Let a burst (kubectl apply -f of many objects) settle.
		t := time.NewTimer(s.cfg.Debounce)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		select {
		case <-s.changed:
		default:
		}
		apply(s.Snapshot())
	}
}

// Snapshot translates the objects in the caches now.
func (s *Source) Snapshot() Snapshot {
	var r config.Resources
	var decodeErrs config.Errors
	each(s, IPAddressPools, &r.Pools, &decodeErrs)
	each(s, L2Advertisements, &r.L2Advertisements, &decodeErrs)
	each(s, BGPAdvertisements, &r.BGPAdvertisements, &decodeErrs)
	each(s, BFDProfiles, &r.BFDProfiles, &decodeErrs)
	each(s, Communities, &r.Communities, &decodeErrs)
	each(s, BGPPeers, &r.Peers, &decodeErrs)
	if objs, err := s.secrets.List(labels.Everything()); err == nil {
		for _, o := range objs {
			r.Secrets = append(r.Secrets, *o.(*corev1.Secret))
		}
	}
	cfg, errs := config.Translate(r)
	return Snapshot{Config: cfg, Errors: append(decodeErrs, errs...), Resources: r}
}

// each decodes the cached objects of gvr into *out.
func each[T any](s *Source, gvr schema.GroupVersionResource, out *[]T, errs *config.Errors) {
	objs, err := s.listers[gvr].List(labels.Everything())
	if err != nil {
		return
	}
	for _, o := range objs {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		var v T
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &v); err != nil {
			*errs = append(*errs, &config.Error{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName(),
				Field: "spec", Err: fmt.Errorf("%w: cannot decode: %v", config.ErrInvalidValue, err)})
			continue
		}
		*out = append(*out, v)
	}
}

// secretLister adapts a typed Secret lister to the generic one.
type secretLister struct {
	l interface {
		List(labels.Selector) ([]*corev1.Secret, error)
	}
}

func (l *secretLister) List(sel labels.Selector) ([]runtime.Object, error) {
	ss, err := l.l.List(sel)
	out := make([]runtime.Object, 0, len(ss))
	for _, s := range ss {
		out = append(out, s)
	}
	return out, err
}

func (l *secretLister) Get(string) (runtime.Object, error) { return nil, errors.New("not supported") }

func (l *secretLister) ByNamespace(string) cache.GenericNamespaceLister { return nil }

package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/lbkit/lbkit/allocator"
	"github.com/lbkit/lbkit/k8s/annotations"
)

var everything = labels.Everything()

// Annotations the controller writes: the pool an address came from, under
// both of MetalLB's prefixes so tools reading either find it.
const (
	AnnotationPool       = annotations.Prefix + annotations.IPAllocatedFromPool
	AnnotationPoolLegacy = annotations.LegacyPrefix + annotations.IPAllocatedFromPool
)

// Event reasons, as MetalLB names them where it has a name.
const (
	ReasonAllocated        = "IPAllocated"
	ReasonAllocationFailed = "AllocationFailed"
	ReasonRestoreFailed    = "RestoreFailed"
)

// handles reports whether svc is a LoadBalancer Service of our class.
func (c *Controller) handles(svc *corev1.Service) bool {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return false
	}
	class := ""
	if svc.Spec.LoadBalancerClass != nil {
		class = *svc.Spec.LoadBalancerClass
	}
	return class == c.class
}

// sync brings one Service's addresses and status in line. It is idempotent;
// a Service that no longer exists is released.
func (c *Controller) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // a malformed key never becomes valid
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.release(key)
		return nil
	}
	if err != nil {
		return err
	}
	if !c.handles(svc) {
		held := c.release(key)
		// A Service that stopped being a LoadBalancer loses the status we
		// wrote; one that moved to another class keeps it for its new owner.
		if held && svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
			return c.writeStatus(ctx, svc, nil, "")
		}
		return nil
	}

	req, err := annotations.Request(svc, c.namespaceLabels(ns))
	if err != nil {
		c.warn(svc, ReasonAllocationFailed, fmt.Sprintf("invalid service configuration: %v", err))
		return nil // the user has to fix the Service; keep what it holds
	}

	var cur allocator.Assignment
	if _, held := c.alloc.Lookup(key); held {
		// Allocate keeps what the service holds while it still fits the
		// request, and moves it only once the new allocation succeeded.
		cur, err = c.alloc.Allocate(req)
		if err != nil {
			c.warn(svc, ReasonAllocationFailed, fmt.Sprintf("Failed to change addresses of %q, keeping the current ones: %v", key, err))
			cur, _ = c.alloc.Lookup(key)
		}
	} else {
		cur, err = c.acquire(svc, key, req)
		if err != nil {
			c.markPending(key, true)
			c.warn(svc, ReasonAllocationFailed, fmt.Sprintf("Failed to allocate IP for %q: %v", key, err))
			// Addresses we do not hold must not stay in status: another
			// service may get them. Addresses in no pool stay (never moved
			// silently): no other service can get them either.
			if len(svc.Status.LoadBalancer.Ingress) > 0 && !errors.Is(err, allocator.ErrAddressNotInPool) {
				return c.writeStatus(ctx, svc, nil, "")
			}
			return nil
		}
		c.markPending(key, false)
	}
	changed, err := c.writeStatusIfChanged(ctx, svc, cur.Addresses, cur.Pool)
	if err != nil {
		return err
	}
	if changed {
		c.markPoolStatusDirty()
		c.recorder.Eventf(svc, corev1.EventTypeNormal, ReasonAllocated, "Assigned IP %s from pool %q", addrList(cur.Addresses), cur.Pool)
		c.log.Info("assigned", "service", key, "addresses", cur.Addresses, "pool", cur.Pool)
	}
	return nil
}

// acquire gets addresses for a service that holds none: those already in
// its status if it has any (a restart, or a service restored late), else
// new ones.
func (c *Controller) acquire(svc *corev1.Service, key string, req allocator.Request) (allocator.Assignment, error) {
	if inStatus := ingressAddrs(svc); len(inStatus) > 0 && satisfies(inStatus, "", req) {
		a, err := c.alloc.Assign(req, inStatus)
		if err == nil {
			return a, nil
		}
		if errors.Is(err, allocator.ErrAddressNotInPool) {
			// Never move an address silently: keep it and say so.
			return allocator.Assignment{}, fmt.Errorf("addresses %v in status are in no pool, kept until the service is changed: %w", inStatus, err)
		}
		c.warn(svc, ReasonRestoreFailed, fmt.Sprintf("cannot keep addresses %v: %v; allocating new ones", inStatus, err))
	}
	return c.alloc.Allocate(req)
}

// release frees what key holds and retries services waiting for addresses.
func (c *Controller) release(key string) bool {
	c.markPending(key, false)
	if !c.alloc.Release(key) {
		return false
	}
	c.log.Info("released", "service", key)
	c.markPoolStatusDirty()
	c.retryPending()
	return true
}

func (c *Controller) namespaceLabels(ns string) map[string]string {
	n, err := c.namespaces.Get(ns)
	if err != nil {
		return nil
	}
	return n.Labels
}

func (c *Controller) warn(svc *corev1.Service, reason, msg string) {
	c.log.Warn(msg, "service", svc.Namespace+"/"+svc.Name, "reason", reason)
	c.recorder.Event(svc, corev1.EventTypeWarning, reason, msg)
}

// satisfies reports whether addrs (from pool, if known) meet req's explicit
// asks: the requested addresses, the requested pool and the families.
func satisfies(addrs []netip.Addr, pool string, req allocator.Request) bool {
	if len(addrs) == 0 {
		return false
	}
	if len(req.Addresses) > 0 {
		if len(req.Addresses) != len(addrs) {
			return false
		}
		for _, a := range req.Addresses {
			if !slices.Contains(addrs, a) {
				return false
			}
		}
	}
	if req.Pool != "" && pool != "" && pool != req.Pool {
		return false
	}
	var v4, v6 int
	for _, a := range addrs {
		if a.Is4() {
			v4++
		} else {
			v6++
		}
	}
	if v4 > 1 || v6 > 1 {
		return false
	}
	primary := req.Families.Primary
	if primary == 0 {
		primary = allocator.IPv4
		if len(req.Addresses) > 0 && req.Addresses[0].Is6() {
			primary = allocator.IPv6
		}
	}
	switch req.Families.Stack {
	case allocator.RequireDualStack:
		return v4 == 1 && v6 == 1
	case allocator.PreferDualStack:
		return true
	default:
		if primary == allocator.IPv6 {
			return v6 == 1 && v4 == 0
		}
		return v4 == 1 && v6 == 0
	}
}

func ingressAddrs(svc *corev1.Service) []netip.Addr {
	var out []netip.Addr
	for _, in := range svc.Status.LoadBalancer.Ingress {
		if a, err := netip.ParseAddr(in.IP); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

func addrList(addrs []netip.Addr) string {
	b, _ := json.Marshal(addrs)
	return string(b)
}

// writeStatusIfChanged writes addrs and pool unless the Service shows them
// already, and reports whether it wrote.
func (c *Controller) writeStatusIfChanged(ctx context.Context, svc *corev1.Service, addrs []netip.Addr, pool string) (bool, error) {
	if slices.Equal(ingressAddrs(svc), addrs) && svc.Annotations[AnnotationPool] == pool {
		return false, nil
	}
	return true, c.writeStatus(ctx, svc, addrs, pool)
}

// writeStatus sets status.loadBalancer.ingress and the pool annotation
// (removed when pool is empty) with one merge patch of the status
// subresource: the Service status strategy keeps metadata changes, so one
// write does both, and a concurrent change of other fields never
// conflicts. Should an API server drop the metadata part, a second patch
// of the object itself writes the annotation.
func (c *Controller) writeStatus(ctx context.Context, svc *corev1.Service, addrs []netip.Addr, pool string) error {
	var poolValue any
	if pool != "" {
		poolValue = pool
	}
	annotate := svc.Annotations[AnnotationPool] != pool || svc.Annotations[AnnotationPoolLegacy] != pool
	ingress := make([]corev1.LoadBalancerIngress, 0, len(addrs))
	for _, a := range addrs {
		ingress = append(ingress, corev1.LoadBalancerIngress{IP: a.String()})
	}
	body := map[string]any{"status": map[string]any{"loadBalancer": map[string]any{"ingress": ingress}}}
	annotations := map[string]any{"annotations": map[string]any{AnnotationPool: poolValue, AnnotationPoolLegacy: poolValue}}
	if annotate {
		body["metadata"] = annotations
	}
	patch, _ := json.Marshal(body)
	api := c.client.CoreV1().Services(svc.Namespace)
	got, err := api.Patch(ctx, svc.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write status of %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	if !annotate || (got.Annotations[AnnotationPool] == pool && got.Annotations[AnnotationPoolLegacy] == pool) {
		return nil
	}
	patch, _ = json.Marshal(map[string]any{"metadata": annotations})
	if _, err := api.Patch(ctx, svc.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("annotate %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	return nil
}

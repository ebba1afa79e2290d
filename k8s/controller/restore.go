package controller

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"

	"github.com/lbkit/lbkit/k8s/annotations"
)

// restore puts every address already in a handled Service's status back
// into the allocator, before any new allocation. A Service whose addresses
// cannot be restored is left to sync, which reports why.
func (c *Controller) restore(ctx context.Context) {
	svcs, err := c.services.List(everything)
	if err != nil {
		c.log.Error("restore: list services", "error", err)
		return
	}
	sort.Slice(svcs, func(i, j int) bool {
		if svcs[i].Namespace != svcs[j].Namespace {
			return svcs[i].Namespace < svcs[j].Namespace
		}
		return svcs[i].Name < svcs[j].Name
	})
	var restored, failed int
	for _, svc := range svcs {
		if ctx.Err() != nil {
			return
		}
		addrs := ingressAddrs(svc)
		if !c.handles(svc) || len(addrs) == 0 {
			continue
		}
		key := svc.Namespace + "/" + svc.Name
		req, err := annotations.Request(svc, c.namespaceLabels(svc.Namespace))
		if err == nil {
			_, err = c.alloc.Assign(req, addrs)
		}
		if err != nil {
			failed++
			c.log.Warn("restore: cannot keep addresses", "service", key, "addresses", addrs, "error", err)
			c.recorder.Event(svc, corev1.EventTypeWarning, ReasonRestoreFailed, fmt.Sprintf("cannot restore addresses %v: %v", addrs, err))
			continue
		}
		restored++
	}
	c.log.Info("restored addresses from service status", "services", restored, "failed", failed)
	for _, svc := range svcs {
		c.queue.Add(svc.Namespace + "/" + svc.Name)
	}
}

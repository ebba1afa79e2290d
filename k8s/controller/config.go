package controller

import (
	"context"
	"encoding/json"
	"math"
	"math/big"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/lbkit/lbkit/k8s/api/v1beta1"
	"github.com/lbkit/lbkit/k8s/config"
	"github.com/lbkit/lbkit/k8s/source"
)

// ConfigurationStates is the resource through which components report
// whether they accepted the configuration.
var ConfigurationStates = v1beta1.ConfigurationStatesResource

// ReasonConfigInvalid is the reason of the Warning event on a bad object.
const ReasonConfigInvalid = "InvalidConfiguration"

// ApplyConfig takes a configuration snapshot (from package k8s/source). A
// snapshot with errors does not replace a configuration that works: the
// last good one stays in force, each bad object gets a Warning event, and
// the ConfigurationState object and the config_stale metric say so. The
// first snapshot is applied even with errors (its valid objects), since
// nothing works before it.
func (c *Controller) ApplyConfig(ctx context.Context, snap source.Snapshot) {
	c.cfgMu.Lock()
	defer c.cfgMu.Unlock()
	errs := slices.Clip(snap.Errors) // appended to below: never into the snapshot's array
	for _, e := range errs {
		c.log.Warn("invalid configuration object", "kind", e.Kind, "object", e.Object(), "field", e.Field, "error", e.Err)
		c.recorder.Event(objectRef(e), corev1.EventTypeWarning, ReasonConfigInvalid, e.Error())
	}
	if len(errs) == 0 || !c.haveGood {
		if _, err := c.ApplyPools(snap.Config.Pools); err != nil {
			c.log.Error("pools rejected; the last good configuration stays in force", "error", err)
			errs = append(errs, &config.Error{Kind: "IPAddressPool", Field: "spec.addresses", Err: err})
		} else {
			c.haveGood = true
			c.poolObjects = snap.Resources.Pools
		}
	}
	// Any error makes the configuration stale: either the last good one
	// stays in force, or (first load) only its valid part is.
	c.SetConfigState(c.haveGood, len(errs) > 0)
	if c.dynamic != nil {
		labels := map[string]string{source.LabelComponentType: "controller"}
		if err := source.WriteState(ctx, c.dynamic, c.namespace, "controller", labels, errs); err != nil {
			c.log.Warn("cannot write ConfigurationState", "error", err)
		}
	}
	c.markPoolStatusDirty()
}

func objectRef(e *config.Error) *corev1.ObjectReference {
	version := "v1beta1"
	if e.Kind == "BGPPeer" {
		version = "v1beta2"
	}
	return &corev1.ObjectReference{APIVersion: "metallb.io/" + version, Kind: e.Kind, Namespace: e.Namespace, Name: e.Name}
}

func (c *Controller) markPoolStatusDirty() {
	select {
	case c.poolDirty <- struct{}{}:
	default:
	}
}

// runPoolStatus writes IPAddressPool status (assigned/available per
// family) at most once per interval, when something changed.
func (c *Controller) runPoolStatus(ctx context.Context, interval time.Duration) {
	last := map[string]string{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.poolDirty:
		}
		c.cfgMu.Lock()
		pools := c.poolObjects
		c.cfgMu.Unlock()
		for _, p := range pools {
			st, ok := c.alloc.PoolStats(p.Name)
			if !ok {
				continue
			}
			status := map[string]any{
				"assignedIPv4": int64(st.IPv4.InUse), "assignedIPv6": int64(st.IPv6.InUse),
				"availableIPv4": clamp(st.IPv4.Available), "availableIPv6": clamp(st.IPv6.Available),
				"availableIPv6Exact": decimal(st.IPv6.Available),
			}
			b, _ := json.Marshal(map[string]any{"status": status})
			if last[p.Namespace+"/"+p.Name] == string(b) {
				continue
			}
			_, err := c.dynamic.Resource(v1beta1.IPAddressPoolsResource).Namespace(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, b, metav1.PatchOptions{}, "status")
			if err != nil {
				c.log.Debug("cannot write pool status", "pool", p.Name, "error", err)
				continue
			}
			last[p.Namespace+"/"+p.Name] = string(b)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func decimal(n *big.Int) string {
	if n == nil {
		return "0"
	}
	return n.String()
}

// clamp reports n as an int64, the largest int64 when it does not fit (the
// exact figure is in the allocator's PoolStats and the metrics).
func clamp(n *big.Int) int64 {
	if n == nil {
		return 0
	}
	if !n.IsInt64() {
		return math.MaxInt64
	}
	return n.Int64()
}

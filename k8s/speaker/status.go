package speaker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"

	"github.com/lbkit/lbkit/k8s/api/v1beta1"
)

// Labels on ServiceL2Status and ServiceBGPStatus objects, as MetalLB sets
// them, so `kubectl get servicel2status -l metallb.io/node=...` works.
const (
	LabelNode             = "metallb.io/node"
	LabelServiceName      = "metallb.io/service-name"
	LabelServiceNamespace = "metallb.io/service-namespace"
)

// StatusName returns the name of the status object this node writes for
// a service: the prefix ("l2-" or "bgp-") and a hash of node and service,
// so that a restarted speaker finds its objects again.
func StatusName(prefix, node, serviceKey string) string {
	sum := sha256.Sum256([]byte(node + "\x00" + serviceKey))
	return prefix + hex.EncodeToString(sum[:8])
}

// statusWriter writes this node's ServiceL2Status and ServiceBGPStatus
// objects. It remembers what it wrote to skip API calls that would change
// nothing.
type statusWriter struct {
	dyn  dynamic.Interface
	ns   string
	node string

	mu sync.Mutex
	// written maps resource/name to the JSON of the status last written,
	// or "" when the object is known to be absent. Guarded by mu.
	written map[string]string
	// primed is true once leftovers listed this node's objects: from then
	// on an object not in written is known to be absent. Guarded by mu.
	primed bool
}

// leftover marks an object found at start whose content is unknown.
const leftover = "\x00leftover"

func newStatusWriter(dyn dynamic.Interface, ns, node string) *statusWriter {
	return &statusWriter{dyn: dyn, ns: ns, node: node, written: map[string]string{}}
}

// sync writes or deletes the objects of one service to match st.
func (w *statusWriter) sync(ctx context.Context, key string, st svcState, alive []string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	var l2, bgp any
	if st.l2 != nil {
		s := &v1beta1.MetalLBServiceL2Status{Node: w.node, ServiceName: name, ServiceNamespace: ns}
		for _, ifi := range st.l2.L2.Interfaces {
			s.Interfaces = append(s.Interfaces, v1beta1.InterfaceInfo{Name: ifi})
		}
		l2 = s
	}
	if st.bgp != nil {
		bgp = &v1beta1.MetalLBServiceBGPStatus{Node: w.node, ServiceName: name, ServiceNamespace: ns, Peers: st.bgpPeers}
	}
	created, err := w.put(ctx, v1beta1.ServiceL2StatusesResource, "ServiceL2Status", StatusName("l2-", w.node, key), ns, name, l2)
	if err == nil && created {
		// A new layer 2 owner clears what a dead owner could not.
		err = w.removeStale(ctx, ns, name, alive)
	}
	_, berr := w.put(ctx, v1beta1.ServiceBGPStatusesResource, "ServiceBGPStatus", StatusName("bgp-", w.node, key), ns, name, bgp)
	return errors.Join(err, berr)
}

// put makes object objName of gvr carry status (a pointer to a status
// struct), or deletes it when status is nil. created reports that it had to create the object.
func (w *statusWriter) put(ctx context.Context, gvr schema.GroupVersionResource, kind, objName, svcNS, svcName string, status any) (created bool, err error) {
	id := gvr.Resource + "/" + objName
	want := ""
	if status != nil {
		b, err := json.Marshal(status)
		if err != nil {
			return false, err
		}
		want = string(b)
	}
	w.mu.Lock()
	have, known := w.written[id]
	if !known && w.primed {
		have, known = "", true
	}
	w.mu.Unlock()
	if known && have == want {
		return false, nil
	}
	res := w.dyn.Resource(gvr).Namespace(w.ns)
	if status == nil {
		if err := res.Delete(ctx, objName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return false, err
		}
		w.remember(id, "")
		return false, nil
	}
	// One merge patch of the status subresource when the object exists;
	// create it first when it does not (or is believed not to).
	patch := []byte(`{"status":` + want + `}`)
	err = apierrors.NewNotFound(gvr.GroupResource(), objName)
	if !known || have != "" {
		_, err = res.Patch(ctx, objName, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
	}
	if apierrors.IsNotFound(err) {
		obj := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": v1beta1.SchemeGroupVersion.String(), "kind": kind,
			"metadata": map[string]any{"name": objName, "namespace": w.ns},
			"spec":     map[string]any{},
		}}
		obj.SetLabels(w.labels(svcNS, svcName))
		if _, err := res.Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return false, err
		}
		created = true
		_, err = res.Patch(ctx, objName, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
	}
	if err != nil {
		return created, err
	}
	w.remember(id, want)
	return created, nil
}

func (w *statusWriter) remember(id, content string) {
	w.mu.Lock()
	w.written[id] = content
	w.mu.Unlock()
}

func (w *statusWriter) labels(ns, name string) map[string]string {
	out := map[string]string{}
	for k, v := range map[string]string{LabelNode: w.node, LabelServiceName: name, LabelServiceNamespace: ns} {
		if len(validation.IsValidLabelValue(v)) == 0 {
			out[k] = v
		}
	}
	return out
}

// removeStale deletes the ServiceL2Status objects other nodes wrote for a
// service if those nodes are not alive: a crashed speaker cannot.
func (w *statusWriter) removeStale(ctx context.Context, ns, name string, alive []string) error {
	res := w.dyn.Resource(v1beta1.ServiceL2StatusesResource).Namespace(w.ns)
	list, err := res.List(ctx, metav1.ListOptions{LabelSelector: LabelServiceNamespace + "=" + ns + "," + LabelServiceName + "=" + name})
	if err != nil {
		return err
	}
	for _, o := range list.Items {
		node := o.GetLabels()[LabelNode]
		if node == w.node || slices.Contains(alive, node) {
			continue
		}
		if err := res.Delete(ctx, o.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// leftovers returns the keys of the services this node has status
// objects for, written by an earlier run, so that they are revisited.
func (w *statusWriter) leftovers(ctx context.Context, log *slog.Logger) []string {
	var keys []string
	complete := true
	for _, gvr := range []schema.GroupVersionResource{v1beta1.ServiceL2StatusesResource, v1beta1.ServiceBGPStatusesResource} {
		list, err := w.dyn.Resource(gvr).Namespace(w.ns).List(ctx, metav1.ListOptions{LabelSelector: LabelNode + "=" + w.node})
		if err != nil {
			log.Warn("cannot list status objects", "resource", gvr.Resource, "error", err)
			complete = false
			continue
		}
		for _, o := range list.Items {
			w.remember(gvr.Resource+"/"+o.GetName(), leftover)
			l := o.GetLabels()
			if l[LabelServiceNamespace] != "" && l[LabelServiceName] != "" {
				keys = append(keys, l[LabelServiceNamespace]+"/"+l[LabelServiceName])
			}
		}
	}
	if complete {
		// Every object of this node is now in written: the rest are absent,
		// and putting a service's first status needs no probe of the API.
		w.mu.Lock()
		w.primed = true
		w.mu.Unlock()
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

// deleteAll deletes every object this writer wrote and did not delete.
func (w *statusWriter) deleteAll(ctx context.Context, log *slog.Logger) {
	w.mu.Lock()
	var ids []string
	for id, content := range w.written {
		if content != "" {
			ids = append(ids, id)
		}
	}
	w.mu.Unlock()
	slices.Sort(ids)
	for _, id := range ids {
		resource, name, _ := strings.Cut(id, "/")
		gvr := v1beta1.SchemeGroupVersion.WithResource(resource)
		if err := w.dyn.Resource(gvr).Namespace(w.ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			log.Warn("cannot delete status object", "resource", resource, "name", name, "error", err)
			continue
		}
		w.remember(id, "")
	}
}

func fromUnstructured(obj map[string]any, into any) error {
	return runtime.DefaultUnstructuredConverter.FromUnstructured(obj, into)
}

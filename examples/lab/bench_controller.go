package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/lbkit/lbkit/internal/kubetest"
	"github.com/lbkit/lbkit/k8s/controller"
	"github.com/lbkit/lbkit/k8s/crds"
	"github.com/lbkit/lbkit/k8s/source"
)

// benchController measures the allocating controller against a real
// kube-apiserver + etcd: Service create to status IP written, one service
// at a time, then a burst of services created as fast as the client can.
func benchController(ctx context.Context, log *slog.Logger, args []string) error {
	fs := flag.NewFlagSet("bench controller", flag.ContinueOnError)
	single := fs.Int("single", 200, "services created one at a time")
	burst := fs.Int("burst", 5000, "services created in a burst")
	qps := fs.Float64("qps", 500, "client-go QPS of the controller (burst is 2x)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Reference: the same burst on a fresh apiserver with no controller, so
	// the table shows what the apiserver alone costs on this machine (its
	// ClusterIP allocator does O(n) work per Service).
	refTime, err := referenceBurst(ctx, *burst, *qps)
	if err != nil {
		return err
	}
	t0 := time.Now()
	env, err := kubetest.Run(ctx, kubetest.Options{
		// Dual-stack cluster IPs, so services can be IPv6 and the pool a /64.
		APIServerFlags: []string{"--service-cluster-ip-range=10.96.0.0/16,fd00:10:96::/108"},
	})
	if err != nil {
		return err
	}
	defer env.Stop()
	log.Info("kube-apiserver ready", "after", time.Since(t0).Round(time.Millisecond))

	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = float32(*qps), int(2**qps)
	dyn := dynamic.NewForConfigOrDie(cfg) // custom resources speak JSON only
	pcfg := rest.CopyConfig(cfg)
	// Built-in types in protobuf: far less apiserver CPU per object than JSON.
	pcfg.ContentType = "application/vnd.kubernetes.protobuf"
	pcfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	client := kubernetes.NewForConfigOrDie(pcfg)
	if err := crds.Install(ctx, dyn); err != nil {
		return err
	}
	for _, ns := range []string{"metallb-system", "bench"} {
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	pool := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool",
		"metadata": map[string]any{"name": "bench", "namespace": "metallb-system"},
		"spec":     map[string]any{"addresses": []any{"2001:db8:100::/64"}},
	}}
	if _, err := dyn.Resource(source.IPAddressPools).Namespace("metallb-system").Create(ctx, pool, metav1.CreateOptions{}); err != nil {
		return err
	}

	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctrl, err := controller.New(controller.Config{Client: client, Dynamic: dyn, Namespace: "metallb-system", Logger: quiet})
	if err != nil {
		return err
	}
	src, err := source.New(source.Config{Client: client, Dynamic: dyn, Namespace: "metallb-system", Logger: quiet})
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); src.Run(runCtx, func(s source.Snapshot) { ctrl.ApplyConfig(runCtx, s) }) }()
	go func() { defer wg.Done(); ctrl.Run(runCtx) }()
	defer func() { stop(); wg.Wait() }()

	// A watch sees each status write as it lands.
	w, err := client.CoreV1().Services("bench").Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	defer w.Stop()
	var mu sync.Mutex
	got := map[string]time.Time{}
	gotc := make(chan string, *burst+*single)
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type != watch.Modified && ev.Type != watch.Added {
				continue
			}
			s, ok := ev.Object.(*corev1.Service)
			if !ok || len(s.Status.LoadBalancer.Ingress) == 0 {
				continue
			}
			mu.Lock()
			if _, seen := got[s.Name]; !seen {
				got[s.Name] = time.Now()
				gotc <- s.Name
			}
			mu.Unlock()
		}
	}()
	svc := func(name string, port int32) *corev1.Service {
		return &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bench"},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
				// lbkit needs no node ports; not allocating them spares the
				// apiserver a contended allocator write per Service.
				AllocateLoadBalancerNodePorts: &noNodePorts,
				IPFamilies:                    []corev1.IPFamily{corev1.IPv6Protocol},
				Ports:                         []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: port}}},
		}
	}
	select {
	case <-ctrl.Restored():
	case <-time.After(time.Minute):
		return fmt.Errorf("controller did not start within a minute")
	}

	// One at a time.
	var lat []time.Duration
	for i := 0; i < *single; i++ {
		name := fmt.Sprintf("one-%04d", i)
		start := time.Now()
		if _, err := client.CoreV1().Services("bench").Create(ctx, svc(name, 80), metav1.CreateOptions{}); err != nil {
			return err
		}
		if err := waitName(ctx, gotc, name, 30*time.Second); err != nil {
			return err
		}
		mu.Lock()
		lat = append(lat, got[name].Sub(start))
		mu.Unlock()
	}

	// The burst: 16 creators, as a deployment tool would.
	start := time.Now()
	if err := createBurst(ctx, client, "bench", *burst, nil); err != nil {
		return err
	}
	created := time.Since(start)
	deadline := time.After(5 * time.Minute)
	for n := 0; n < *burst; {
		select {
		case name := <-gotc:
			if len(name) > 6 && name[:6] == "burst-" {
				n++
			}
		case <-deadline:
			return fmt.Errorf("burst: only %d of %d services got an address within 5 minutes", n, *burst)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	burstTime := time.Since(start)

	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	p := func(q float64) float64 { return ms(lat[min(len(lat)-1, int(q*float64(len(lat))))]) }
	fmt.Printf("controller: Service create -> status IP, real kube-apiserver %s + etcd %s, client QPS %.0f\n", kubetest.KubeVersion, kubetest.EtcdVersion, *qps)
	fmt.Printf("%-40s %10s\n", "measure", "value")
	fmt.Printf("%-40s %10.1f\n", fmt.Sprintf("create->IP p50 over %d (ms)", *single), p(0.50))
	fmt.Printf("%-40s %10.1f\n", fmt.Sprintf("create->IP p99 over %d (ms)", *single), p(0.99))
	fmt.Printf("%-40s %10.1f\n", fmt.Sprintf("create->IP max over %d (ms)", *single), ms(slices.Max(lat)))
	fmt.Printf("%-40s %10.2f\n", fmt.Sprintf("reference: %d created, no controller (s)", *burst), refTime.Seconds())
	fmt.Printf("%-40s %10.2f\n", fmt.Sprintf("%d services created (s)", *burst), created.Seconds())
	fmt.Printf("%-40s %10.2f\n", fmt.Sprintf("%d services all with an IP (s)", *burst), burstTime.Seconds())
	fmt.Printf("controller create_to_ip_p50_ms=%.1f create_to_ip_p99_ms=%.1f burst5k_s=%.2f\n", p(0.50), p(0.99), burstTime.Seconds())
	return nil
}

var noNodePorts = false

// referenceBurst times createBurst on an apiserver of its own.
func referenceBurst(ctx context.Context, n int, qps float64) (time.Duration, error) {
	env, err := kubetest.Run(ctx, kubetest.Options{
		APIServerFlags: []string{"--service-cluster-ip-range=10.96.0.0/16,fd00:10:96::/108"},
	})
	if err != nil {
		return 0, err
	}
	defer env.Stop()
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = float32(qps), int(2*qps)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	client := kubernetes.NewForConfigOrDie(cfg)
	start := time.Now()
	err = createBurst(ctx, client, "default", n, nil)
	return time.Since(start), err
}

// createBurst creates n IPv6 LoadBalancer Services in ns from 16
// goroutines, as a deployment tool would; mod adjusts each.
func createBurst(ctx context.Context, client kubernetes.Interface, ns string, n int, mod func(*corev1.Service)) error {
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				svc := &corev1.Service{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("burst-%05d", i), Namespace: ns},
					Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
						AllocateLoadBalancerNodePorts: &noNodePorts,
						IPFamilies:                    []corev1.IPFamily{corev1.IPv6Protocol},
						Ports:                         []corev1.ServicePort{{Protocol: corev1.ProtocolTCP, Port: 80}}},
				}
				if mod != nil {
					mod(svc)
				}
				if _, err := client.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
					errc <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errc)
	return <-errc
}

func waitName(ctx context.Context, c <-chan string, name string, timeout time.Duration) error {
	deadline := time.After(timeout)
	for {
		select {
		case n := <-c:
			if n == name {
				return nil
			}
		case <-deadline:
			return fmt.Errorf("%s got no address within %s", name, timeout)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

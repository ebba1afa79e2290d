package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/lbkit/lbkit/examples/deploy"
	"github.com/lbkit/lbkit/internal/kubetest"
	"github.com/lbkit/lbkit/k8s/crds"
	"github.com/lbkit/lbkit/k8s/source"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test at once.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// writeKubeconfig writes cfg (a bearer-token config) as a kubeconfig file,
// impersonating as when not empty.
func writeKubeconfig(t *testing.T, cfg *rest.Config, as string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData,
		InsecureSkipTLSVerify: cfg.Insecure}
	kc.AuthInfos["test"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken, Impersonate: as}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "test"}
	kc.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startCommand runs `lbkit args...` in-process; stop cancels it (as
// SIGTERM does) and returns its error.
func startCommand(t *testing.T, args ...string) (logs *syncBuffer, stop func() error) {
	t.Helper()
	logs = &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, args, func(string) string { return "" }, logs) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(30 * time.Second):
				err = errors.New("did not stop within 30s")
			}
		})
		return err
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("%s logs:\n%s", args[0], logs.String())
		}
	})
	return logs, stop
}

func createPool(ctx context.Context, t *testing.T, dyn dynamic.Interface, name, cidr string) {
	t.Helper()
	var m map[string]any
	text := fmt.Sprintf("apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: %s, namespace: metallb-system}\nspec: {addresses: [%q]}\n", name, cidr)
	if err := yaml.Unmarshal([]byte(text), &m); err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(source.IPAddressPools).Namespace("metallb-system").Create(ctx, &unstructured.Unstructured{Object: m}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createService(ctx context.Context, t *testing.T, client kubernetes.Interface, name, class string) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP}}},
	}
	if class != "" {
		svc.Spec.LoadBalancerClass = &class
	}
	if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitIngress waits until Service default/name has an ingress IP.
func waitIngress(ctx context.Context, t *testing.T, client kubernetes.Interface, name string) string {
	t.Helper()
	for {
		svc, err := client.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
		if err == nil && len(svc.Status.LoadBalancer.Ingress) > 0 {
			return svc.Status.LoadBalancer.Ingress[0].IP
		}
		select {
		case <-ctx.Done():
			t.Fatalf("service %s got no address: %v", name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func httpGet(url string) (string, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// applyRBAC creates the ServiceAccounts and RBAC objects of examples/deploy.
func applyRBAC(ctx context.Context, t *testing.T, dyn dynamic.Interface) {
	t.Helper()
	docs, err := deploy.Documents()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{"ServiceAccount": "serviceaccounts", "ClusterRole": "clusterroles",
		"ClusterRoleBinding": "clusterrolebindings", "Role": "roles", "RoleBinding": "rolebindings"}
	for _, d := range docs {
		var m map[string]any
		if err := yaml.Unmarshal(d, &m); err != nil {
			t.Fatal(err)
		}
		obj := &unstructured.Unstructured{Object: m}
		res, ok := kinds[obj.GetKind()]
		if !ok {
			continue
		}
		gvk := obj.GroupVersionKind()
		var ri dynamic.ResourceInterface = dyn.Resource(gvk.GroupVersion().WithResource(res))
		if ns := obj.GetNamespace(); ns != "" {
			ri = dyn.Resource(gvk.GroupVersion().WithResource(res)).Namespace(ns)
		}
		if _, err := ri.Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
	}
}

// TestControllerCommand runs `lbkit controller` in-process against a real
// kube-apiserver: first as admin with leader election, then as the
// examples/deploy ServiceAccount with its RBAC (impersonated), which must
// be enough for everything the controller writes.
func TestControllerCommand(t *testing.T) {
	env := kubetest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client := kubernetes.NewForConfigOrDie(env.Config)
	dyn := dynamic.NewForConfigOrDie(env.Config)
	if err := crds.Install(ctx, dyn); err != nil {
		t.Fatalf("installing k8s/crds: %v", err)
	}
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "metallb-system"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createPool(ctx, t, dyn, "pool-a", "192.0.2.0/28")

	t.Run("admin with leader election", func(t *testing.T) {
		metrics := freeAddr(t)
		_, stop := startCommand(t, "controller", "-kubeconfig="+writeKubeconfig(t, env.Config, ""),
			"-metrics-addr="+metrics, "-identity=test-replica", "-log-level=debug")
		createService(ctx, t, client, "web", "")
		ip := waitIngress(ctx, t, client, "web")
		if !strings.HasPrefix(ip, "192.0.2.") {
			t.Errorf("web got %s, want an address of 192.0.2.0/28", ip)
		}
		lease, err := client.CoordinationV1().Leases("metallb-system").Get(ctx, "lbkit-controller", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if h := lease.Spec.HolderIdentity; h == nil || *h != "test-replica" {
			t.Errorf("lease holder = %v, want test-replica", h)
		}
		body, err := httpGet("http://" + metrics + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{"lbkit_config_loaded 1", "go_goroutines", "process_cpu_seconds_total"} {
			if !strings.Contains(body, m) {
				t.Errorf("/metrics has no %q", m)
			}
		}
		if body, err := httpGet("http://" + metrics + "/healthz"); err != nil || strings.TrimSpace(body) != "ok" {
			t.Errorf("/healthz = %q, %v", body, err)
		}
		start := time.Now()
		if err := stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
		t.Logf("stopped in %v", time.Since(start).Round(time.Millisecond))
		// ReleaseOnCancel: the next replica need not wait for expiry.
		lease, err = client.CoordinationV1().Leases("metallb-system").Get(ctx, "lbkit-controller", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if h := lease.Spec.HolderIdentity; h != nil && *h != "" {
			t.Errorf("lease still held by %q after stop", *h)
		}
		if _, err := net.DialTimeout("tcp", metrics, time.Second); err == nil {
			t.Error("metrics server still listening after stop")
		}
	})

	t.Run("deploy RBAC", func(t *testing.T) {
		applyRBAC(ctx, t, dyn)
		kc := writeKubeconfig(t, env.Config, "system:serviceaccount:metallb-system:lbkit-controller")
		logs, stop := startCommand(t, "controller", "-kubeconfig="+kc, "-metrics-addr=", "-identity=sa-replica",
			"-lb-class=lbkit.io/test")
		createService(ctx, t, client, "classy", "lbkit.io/test")
		ip := waitIngress(ctx, t, client, "classy")
		if !strings.HasPrefix(ip, "192.0.2.") {
			t.Errorf("classy got %s", ip)
		}
		// ConfigurationState and pool status were written with the
		// ServiceAccount's rights. This controller only counts its class.
		for {
			cs, err := dyn.Resource(source.IPAddressPools.GroupVersion().WithResource("configurationstates")).
				Namespace("metallb-system").Get(ctx, "controller", metav1.GetOptions{})
			pool, perr := dyn.Resource(source.IPAddressPools).Namespace("metallb-system").Get(ctx, "pool-a", metav1.GetOptions{})
			if err == nil && perr == nil {
				result, _, _ := unstructured.NestedString(cs.Object, "status", "result")
				assigned, _, _ := unstructured.NestedInt64(pool.Object, "status", "assignedIPv4")
				if result == "Valid" && assigned == 1 {
					break
				}
			}
			select {
			case <-ctx.Done():
				t.Fatalf("ConfigurationState / pool status not written: %v %v", err, perr)
			case <-time.After(100 * time.Millisecond):
			}
		}
		events, err := client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=classy"})
		if err != nil {
			t.Fatal(err)
		}
		if len(events.Items) == 0 {
			t.Error("no event recorded on Service classy")
		}
		if err := stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if l := logs.String(); strings.Contains(l, "forbidden") {
			t.Errorf("the ServiceAccount was refused something:\n%s", grepLines(l, "forbidden"))
		}
	})

	t.Run("speaker with deploy RBAC, BGP only", func(t *testing.T) {
		applyRBAC(ctx, t, dyn)
		if _, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		kc := writeKubeconfig(t, env.Config, "system:serviceaccount:metallb-system:lbkit-speaker")
		metrics := freeAddr(t)
		logs, stop := startCommand(t, "speaker", "-kubeconfig="+kc, "-metrics-addr="+metrics, "-node-name=node1", "-l2=false")
		for {
			body, _ := httpGet("http://" + metrics + "/metrics")
			if strings.Contains(body, "lbkit_speaker_config_loaded 1") && strings.Contains(logs.String(), "caches synced") {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("the speaker did not load its configuration: %s", body)
			case <-time.After(100 * time.Millisecond):
			}
		}
		if err := stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if l := logs.String(); strings.Contains(l, "forbidden") {
			t.Errorf("the ServiceAccount was refused something:\n%s", grepLines(l, "forbidden"))
		}
	})
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

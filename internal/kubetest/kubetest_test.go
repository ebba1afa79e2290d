//go:build unix

package kubetest

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

func TestStagingModules(t *testing.T) {
	mod := filepath.Join(t.TempDir(), "go.mod")
	body := "module k8s.io/kubernetes\n\nreplace (\n\tk8s.io/api => ./staging/src/k8s.io/api\n\tk8s.io/apimachinery => ./staging/src/k8s.io/apimachinery\n\tgithub.com/x/y => github.com/x/y v1.0.0\n)\n\nreplace k8s.io/kms => ./staging/src/k8s.io/kms\n"
	if err := os.WriteFile(mod, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := stagingModules(mod)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"k8s.io/api", "k8s.io/apimachinery", "k8s.io/kms"}
	if len(got) != len(want) {
		t.Fatalf("stagingModules = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("stagingModules = %v, want %v", got, want)
		}
	}
}

func TestLockFileExcludes(t *testing.T) {
	p := filepath.Join(t.TempDir(), ".lock")
	unlock, err := lockFile(context.Background(), p, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// flock locks belong to the open file description, so a second open in
	// the same process contends like another builder would.
	if _, err := lockFile(context.Background(), p, 600*time.Millisecond); err == nil {
		t.Fatal("second lock succeeded while the first is held")
	}
	unlock()
	unlock2, err := lockFile(context.Background(), p, time.Second)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}

func TestStartServesAndStops(t *testing.T) {
	env := Start(t)
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != KubeVersion {
		t.Errorf("server version %q, want %q", v.GitVersion, KubeVersion)
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "lb", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Type:  corev1.ServiceTypeLoadBalancer,
			Ports: []corev1.ServicePort{{Port: 80}},
		},
	}
	if _, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create LoadBalancer service: %v", err)
	}

	pids := make([]int, 0, len(env.procs))
	for _, p := range env.procs {
		pids = append(pids, p.Process.Pid)
	}
	if err := env.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := env.Stop(); err != nil { // idempotent
		t.Fatalf("second Stop: %v", err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("pid %d still alive after Stop", pid)
		}
	}
	if _, err := os.Stat(env.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists after Stop (err %v)", env.Dir, err)
	}
}

func TestBuildOnceConcurrent(t *testing.T) {
	target := filepath.Join(t.TempDir(), "bin", "tool")
	var mu sync.Mutex
	builds := 0
	build := func(ctx context.Context, opts BuildOptions, work, out string) error {
		mu.Lock()
		builds++
		mu.Unlock()
		time.Sleep(300 * time.Millisecond) // hold the lock while the other builder waits
		return os.WriteFile(out, []byte("#!/bin/true\n"), 0o755)
	}
	opts := BuildOptions{Log: io.Discard, LockWait: 10 * time.Second}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = buildOnce(context.Background(), opts, target, build) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if builds != 1 {
		t.Errorf("built %d times, want 1", builds)
	}
	if !isFile(target) {
		t.Errorf("%s missing", target)
	}
	leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(target), ".tool.tmp-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestBuildOnceFailureLeavesNothing(t *testing.T) {
	target := filepath.Join(t.TempDir(), "tool")
	fail := func(ctx context.Context, opts BuildOptions, work, out string) error {
		_ = os.WriteFile(out, []byte("partial"), 0o755)
		return errors.New("compiler exploded")
	}
	if err := buildOnce(context.Background(), BuildOptions{Log: io.Discard, LockWait: time.Second}, target, fail); err == nil {
		t.Fatal("no error")
	}
	if isFile(target) {
		t.Error("a failed build left a binary in the cache")
	}
}

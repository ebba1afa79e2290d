package kubetest

import (
	"context"
	"testing"
	"time"
)

// Start runs a cluster for t (see Run) and stops it on t.Cleanup. It skips
// t in -short mode, and fails t if the cluster cannot start. Building the
// binaries, when they are not cached yet, takes several minutes; run
// `go run ./internal/kubetest/cmd/kubebuild` beforehand to keep it out of
// test time.
func Start(t testing.TB) *Env {
	t.Helper()
	if testing.Short() {
		t.Skip("kubetest: needs a real kube-apiserver and etcd; skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	opts := Options{}
	if _, ok := Cached(opts.Build); !ok {
		t.Logf("kubetest: building kube-apiserver %s and etcd %s (first run only)", KubeVersion, EtcdVersion)
		opts.Build.Log = testWriter{t}
	}
	start := time.Now()
	env, err := Run(ctx, opts)
	if err != nil {
		t.Fatalf("kubetest: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("kubetest: stop: %v", err)
		}
	})
	t.Logf("kubetest: kube-apiserver ready at %s in %s", env.Config.Host, time.Since(start).Round(time.Millisecond))
	return env
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", p)
	return len(p), nil
}

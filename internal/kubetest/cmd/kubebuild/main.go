// Command kubebuild builds and caches the kube-apiserver and etcd binaries
// that package kubetest runs, so that tests find them ready. It prints the
// paths of the cached binaries.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/lbkit/lbkit/internal/kubetest"
)

func main() {
	cacheDir := flag.String("cache-dir", "", "cache root (default: user cache dir/lbkit/kube)")
	timeout := flag.Duration("timeout", 45*time.Minute, "give up after this long")
	quiet := flag.Bool("q", false, "do not print the go tool's output")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	opts := kubetest.BuildOptions{CacheDir: *cacheDir, Log: os.Stderr}
	if *quiet {
		opts.Log = nil
	}
	start := time.Now()
	b, err := kubetest.Build(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubebuild:", err)
		os.Exit(1)
	}
	fmt.Printf("kube-apiserver %s: %s\netcd %s: %s\n(%s)\n",
		kubetest.KubeVersion, b.APIServer, kubetest.EtcdVersion, b.Etcd, time.Since(start).Round(time.Second))
}

package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// clients are the API clients a command uses.
type clients struct {
	client  kubernetes.Interface
	dynamic dynamic.Interface
}

// restConfig loads the kubeconfig file path; without one, the in-cluster
// configuration, else client-go's default rules ($KUBECONFIG, then
// ~/.kube/config).
func restConfig(path string) (*rest.Config, error) {
	if path == "" {
		cfg, err := rest.InClusterConfig()
		if err == nil {
			return cfg, nil
		}
		if !errors.Is(err, rest.ErrNotInCluster) {
			return nil, fmt.Errorf("in-cluster config: %w", err)
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = path
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	return cfg, nil
}

func newClients(o commonOptions, userAgent string) (clients, error) {
	cfg, err := restConfig(o.kubeconfig)
	if err != nil {
		return clients{}, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = float32(o.qps), o.burst
	cfg.UserAgent = rest.DefaultKubernetesUserAgent() + " " + userAgent
	// Built-in types travel as protobuf (less CPU on both ends than JSON);
	// the metallb.io custom resources only speak JSON.
	pcfg := rest.CopyConfig(cfg)
	pcfg.ContentType = "application/vnd.kubernetes.protobuf"
	pcfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	c, err := kubernetes.NewForConfig(pcfg)
	if err != nil {
		return clients{}, err
	}
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return clients{}, err
	}
	return clients{client: c, dynamic: d}, nil
}

// newLogger returns the JSON logger of a command.
func newLogger(w io.Writer, level slog.Level, command string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})).With("cmd", command)
}

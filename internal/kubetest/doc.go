// Package kubetest runs a real kube-apiserver and etcd on loopback for tests
// and for the lab binary.
//
// Neither binary is downloaded: both are built from the Go module proxy once
// (Build), into a cache under os.UserCacheDir()/lbkit/kube keyed by version,
// and reused afterwards. Building is safe against concurrent builders: one
// holds a lock file while the others wait, and a binary appears in the cache
// only by an atomic rename, complete.
//
// Run starts etcd and kube-apiserver on random free loopback ports in a
// fresh temporary directory, with a Go-generated serving certificate and
// service-account key (no openssl), a static admin token in system:masters,
// and returns once /readyz answers. Start does the same for a test and stops
// everything on t.Cleanup. No kubelet, scheduler or controller-manager runs:
// tests create Node objects and EndpointSlices themselves.
package kubetest

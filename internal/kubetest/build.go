package kubetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Versions of the binaries kubetest builds and runs.
const (
	// KubeVersion is the kube-apiserver version (module k8s.io/kubernetes).
	KubeVersion = "v1.36.3"
	// StagingVersion is the version of the published staging modules
	// (k8s.io/api, k8s.io/apiserver, ...) that match KubeVersion.
	StagingVersion = "v0.36.3"
	// EtcdVersion is the etcd server version (module go.etcd.io/etcd/server/v3).
	EtcdVersion = "v3.6.16"
)

// Binaries are the paths of built kube-apiserver and etcd executables.
type Binaries struct {
	APIServer string
	Etcd      string
}

// BuildOptions configures Build. The zero value builds into the default
// cache directory and discards the go tool's output.
type BuildOptions struct {
	// CacheDir is the root of the binary cache; empty means
	// os.UserCacheDir()/lbkit/kube.
	CacheDir string
	// Log receives progress lines and the go tool's output; nil discards them.
	Log io.Writer
	// Go is the go command; empty means "go" from PATH.
	Go string
	// LockWait bounds the wait for another builder's lock; 0 means 30 minutes.
	LockWait time.Duration
}

// DefaultCacheDir returns os.UserCacheDir()/lbkit/kube.
func DefaultCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("kubetest: user cache dir: %w", err)
	}
	return filepath.Join(d, "lbkit", "kube"), nil
}

// Cached returns the binaries if both are already in the cache, without
// building anything.
func Cached(opts BuildOptions) (Binaries, bool) {
	b, err := binaryPaths(opts.CacheDir)
	if err != nil {
		return Binaries{}, false
	}
	return b, isFile(b.APIServer) && isFile(b.Etcd)
}

func binaryPaths(cacheDir string) (Binaries, error) {
	if cacheDir == "" {
		d, err := DefaultCacheDir()
		if err != nil {
			return Binaries{}, err
		}
		cacheDir = d
	}
	return Binaries{
		APIServer: filepath.Join(cacheDir, "kube-apiserver-"+KubeVersion, "kube-apiserver"),
		Etcd:      filepath.Join(cacheDir, "etcd-"+EtcdVersion, "etcd"),
	}, nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// Build returns the cached binaries, building whichever is missing. A cold
// build takes several minutes (it downloads Kubernetes' dependencies through
// the module proxy); ctx bounds it.
func Build(ctx context.Context, opts BuildOptions) (Binaries, error) {
	b, err := binaryPaths(opts.CacheDir)
	if err != nil {
		return Binaries{}, err
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	if opts.Go == "" {
		opts.Go = "go"
	}
	if opts.LockWait == 0 {
		opts.LockWait = 30 * time.Minute
	}
	if err := buildOnce(ctx, opts, b.Etcd, buildEtcd); err != nil {
		return Binaries{}, err
	}
	if err := buildOnce(ctx, opts, b.APIServer, buildAPIServer); err != nil {
		return Binaries{}, err
	}
	return b, nil
}

type buildFunc func(ctx context.Context, opts BuildOptions, workDir, out string) error

// buildOnce builds target unless it exists, holding target's directory
// lock so that concurrent builders build it once.
func buildOnce(ctx context.Context, opts BuildOptions, target string, build buildFunc) error {
	if isFile(target) {
		return nil
	}
	dir := filepath.Dir(target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("kubetest: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(dir, ".lock"), opts.LockWait)
	if err != nil {
		return fmt.Errorf("kubetest: locking %s: %w", dir, err)
	}
	defer unlock()
	if isFile(target) { // another builder finished while we waited
		return nil
	}
	work, err := os.MkdirTemp("", "lbkit-kubebuild-")
	if err != nil {
		return fmt.Errorf("kubetest: %w", err)
	}
	defer os.RemoveAll(work)

	start := time.Now()
	fmt.Fprintf(opts.Log, "kubetest: building %s\n", target)
	// Build next to the target, then rename: readers never see a partial file.
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.tmp-%d", filepath.Base(target), os.Getpid()))
	defer os.Remove(tmp)
	if err := build(ctx, opts, work, tmp); err != nil {
		return fmt.Errorf("kubetest: building %s: %w", filepath.Base(target), err)
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("kubetest: %w", err)
	}
	fmt.Fprintf(opts.Log, "kubetest: built %s in %s\n", target, time.Since(start).Round(time.Second))
	return nil
}

// goCmd runs the go tool in dir with an environment that isolates the
// throwaway module from any workspace or flags of the caller.
func goCmd(ctx context.Context, opts BuildOptions, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, opts.Go, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod", "CGO_ENABLED=0")
	var tail bytes.Buffer
	w := io.MultiWriter(opts.Log, &tail)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		out := tail.String()
		if len(out) > 4000 {
			out = "..." + out[len(out)-4000:]
		}
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

func writeGoMod(dir, body string) error {
	return os.WriteFile(filepath.Join(dir, "go.mod"), []byte(body), 0o644)
}

func buildEtcd(ctx context.Context, opts BuildOptions, work, out string) error {
	if err := writeGoMod(work, "module lbkit.local/etcdbuild\n\ngo 1.25\n"); err != nil {
		return err
	}
	const pkg = "go.etcd.io/etcd/server/v3"
	if err := goCmd(ctx, opts, work, "get", pkg+"@"+EtcdVersion); err != nil {
		return err
	}
	return goCmd(ctx, opts, work, "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
}

// stagingReplace matches k8s.io/kubernetes' replace lines for its staging
// modules, e.g. "k8s.io/api => ./staging/src/k8s.io/api".
var stagingReplace = regexp.MustCompile(`^\s*(?:replace\s+)?(k8s\.io/[^\s]+)\s+=>\s+\./staging/`)

func buildAPIServer(ctx context.Context, opts BuildOptions, work, out string) error {
	if err := writeGoMod(work, "module lbkit.local/kubebuild\n\ngo 1.25\n"); err != nil {
		return err
	}
	// k8s.io/kubernetes replaces its staging modules with local paths, which
	// a dependent module cannot follow: read the list from its go.mod and
	// pin each to the published release instead.
	modFile, err := downloadGoMod(ctx, opts, work, "k8s.io/kubernetes@"+KubeVersion)
	if err != nil {
		return err
	}
	staging, err := stagingModules(modFile)
	if err != nil {
		return err
	}
	if len(staging) == 0 {
		return errors.New("no staging replaces found in k8s.io/kubernetes go.mod")
	}
	var mod strings.Builder
	mod.WriteString("module lbkit.local/kubebuild\n\ngo 1.25\n\nrequire k8s.io/kubernetes " + KubeVersion + "\n\nreplace (\n")
	for _, m := range staging {
		fmt.Fprintf(&mod, "\t%s => %s %s\n", m, m, StagingVersion)
	}
	mod.WriteString(")\n")
	if err := writeGoMod(work, mod.String()); err != nil {
		return err
	}
	const pkg = "k8s.io/kubernetes/cmd/kube-apiserver"
	if err := goCmd(ctx, opts, work, "get", pkg+"@"+KubeVersion); err != nil {
		return err
	}
	minor := strings.Split(strings.TrimPrefix(KubeVersion, "v"), ".")
	ldflags := strings.Join([]string{
		"-s", "-w",
		"-X", "k8s.io/component-base/version.gitVersion=" + KubeVersion,
		"-X", "k8s.io/component-base/version.gitMajor=" + minor[0],
		"-X", "k8s.io/component-base/version.gitMinor=" + minor[1],
		"-X", "k8s.io/component-base/version.gitTreeState=clean",
		"-X", "k8s.io/client-go/pkg/version.gitVersion=" + KubeVersion,
		"-X", "k8s.io/client-go/pkg/version.gitMajor=" + minor[0],
		"-X", "k8s.io/client-go/pkg/version.gitMinor=" + minor[1],
	}, " ")
	return goCmd(ctx, opts, work, "build", "-trimpath", "-ldflags="+ldflags, "-o", out, pkg)
}

func downloadGoMod(ctx context.Context, opts BuildOptions, dir, modVersion string) (string, error) {
	cmd := exec.CommandContext(ctx, opts.Go, "mod", "download", "-json", modVersion)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	cmd.Stderr = opts.Log
	cmd.WaitDelay = 10 * time.Second
	outb, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w", modVersion, err)
	}
	var info struct{ GoMod, Error string }
	if err := json.Unmarshal(outb, &info); err != nil {
		return "", fmt.Errorf("go mod download %s: %w", modVersion, err)
	}
	if info.Error != "" || info.GoMod == "" {
		return "", fmt.Errorf("go mod download %s: %s", modVersion, info.Error)
	}
	return info.GoMod, nil
}

func stagingModules(goModPath string) ([]string, error) {
	f, err := os.Open(goModPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mods []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := stagingReplace.FindStringSubmatch(sc.Text()); m != nil {
			mods = append(mods, m[1])
		}
	}
	return mods, sc.Err()
}

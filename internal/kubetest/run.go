package kubetest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// Options configures Run. The zero value builds (or reuses) the binaries in
// the default cache and starts a fresh cluster in a temporary directory.
type Options struct {
	// Build configures where the binaries are cached and built.
	Build BuildOptions
	// Dir is the parent of the cluster's temporary directory; empty means
	// os.TempDir().
	Dir string
	// Log receives the output of etcd and kube-apiserver; nil writes it to
	// files in the cluster directory only (see Env.Dir).
	Log io.Writer
	// ReadyTimeout bounds the wait for /readyz; 0 means 60 s.
	ReadyTimeout time.Duration
	// APIServerFlags are appended to kube-apiserver's command line.
	APIServerFlags []string
}

// Env is a running kube-apiserver and etcd.
type Env struct {
	// Config is an admin (system:masters) client configuration. Its QPS and
	// Burst are high because tests create objects in bursts; copy it
	// (rest.CopyConfig) before changing it.
	Config *rest.Config
	// Dir holds the cluster's data, certificates and logs
	// (etcd.log, kube-apiserver.log); Stop removes it.
	Dir string
	// Token is the admin bearer token.
	Token string

	stopOnce sync.Once
	stopErr  error
	procs    []*exec.Cmd     // in start order; stopped in reverse
	exited   []chan struct{} // closed when procs[i] has been waited for

	// spawn runs functions on one locked OS thread that lives until Stop:
	// Pdeathsig fires when the thread that forked a child exits, and Go
	// ends threads whose goroutine exits while locked (as netns code does).
	spawn       chan func()
	spawnerDone chan struct{}
}

// tokenBytes is the size of the random admin token; it is only valid for a
// loopback apiserver that lives as long as a test.
const tokenBytes = 24

// Run builds the binaries if needed, starts etcd and kube-apiserver on free
// loopback ports and returns once /readyz answers ok. The caller must call
// Stop. Run fails, leaving nothing running, if ctx ends first.
func Run(ctx context.Context, opts Options) (*Env, error) {
	bins, err := Build(ctx, opts.Build)
	if err != nil {
		return nil, err
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	dir, err := os.MkdirTemp(opts.Dir, "lbkit-kubetest-")
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	e := &Env{Dir: dir, spawn: make(chan func()), spawnerDone: make(chan struct{})}
	go e.spawner()
	if err := e.start(ctx, bins, opts); err != nil {
		_ = e.Stop()
		return nil, err
	}
	return e, nil
}

func (e *Env) start(ctx context.Context, bins Binaries, opts Options) error {
	tok := make([]byte, tokenBytes)
	if _, err := rand.Read(tok); err != nil {
		return err
	}
	e.Token = hex.EncodeToString(tok)
	pki, err := writePKI(e.Dir)
	if err != nil {
		return fmt.Errorf("kubetest: %w", err)
	}
	tokenFile := filepath.Join(e.Dir, "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(e.Token+",admin,admin,system:masters\n"), 0o600); err != nil {
		return fmt.Errorf("kubetest: %w", err)
	}
	ports, err := freePorts(3)
	if err != nil {
		return fmt.Errorf("kubetest: free ports: %w", err)
	}
	clientURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])

	etcd, err := e.startProcess(opts, "etcd", bins.Etcd,
		"--name=default",
		"--data-dir="+filepath.Join(e.Dir, "etcd"),
		"--listen-client-urls="+clientURL,
		"--advertise-client-urls="+clientURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	)
	if err != nil {
		return err
	}
	if err := waitHTTP(ctx, &http.Client{Timeout: 5 * time.Second}, clientURL+"/health", opts.ReadyTimeout, etcd); err != nil {
		return fmt.Errorf("kubetest: etcd not healthy: %w%s", err, e.logTail("etcd"))
	}

	args := []string{
		"--etcd-servers=" + clientURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(ports[2]),
		"--cert-dir=" + filepath.Join(e.Dir, "certs"),
		"--tls-cert-file=" + pki.certFile,
		"--tls-private-key-file=" + pki.keyFile,
		"--service-cluster-ip-range=10.96.0.0/16",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki.saKeyFile,
		"--service-account-signing-key-file=" + pki.saKeyFile,
		"--authorization-mode=RBAC",
		"--token-auth-file=" + tokenFile,
		"--profiling=false",
	}
	api, err := e.startProcess(opts, "kube-apiserver", bins.APIServer, append(args, opts.APIServerFlags...)...)
	if err != nil {
		return err
	}

	host := "https://127.0.0.1:" + strconv.Itoa(ports[2])
	e.Config = &rest.Config{
		Host:            host,
		BearerToken:     e.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: pki.caPEM},
		QPS:             1000,
		Burst:           2000,
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pki.caPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: &bearer{token: e.Token, rt: tr}, Timeout: 5 * time.Second}
	if err := waitHTTP(ctx, hc, host+"/readyz", opts.ReadyTimeout, api); err != nil {
		return fmt.Errorf("kubetest: kube-apiserver not ready: %w%s", err, e.logTail("kube-apiserver"))
	}
	return nil
}

type bearer struct {
	token string
	rt    http.RoundTripper
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.rt.RoundTrip(r)
}

func (e *Env) spawner() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(e.spawnerDone)
	for f := range e.spawn {
		f()
	}
}

// startProcess starts name with its output in Dir/name.log (and opts.Log).
func (e *Env) startProcess(opts Options, name, bin string, args ...string) (exited <-chan struct{}, err error) {
	logf, err := os.Create(filepath.Join(e.Dir, name+".log"))
	if err != nil {
		return nil, fmt.Errorf("kubetest: %w", err)
	}
	var w io.Writer = logf
	if opts.Log != nil {
		w = io.MultiWriter(logf, opts.Log)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = e.Dir
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = sysProcAttr()
	started := make(chan error)
	e.spawn <- func() { started <- cmd.Start() }
	if err := <-started; err != nil {
		logf.Close()
		return nil, fmt.Errorf("kubetest: starting %s: %w", name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	e.procs = append(e.procs, cmd)
	e.exited = append(e.exited, done)
	return done, nil
}

// Stop stops kube-apiserver and etcd (SIGTERM, then SIGKILL after 5 s,
// each by its PID) and removes Dir. It is idempotent and safe to call from
// several goroutines.
func (e *Env) Stop() error {
	e.stopOnce.Do(func() {
		var errs []error
		for i := len(e.procs) - 1; i >= 0; i-- {
			p := e.procs[i].Process
			_ = p.Signal(terminate)
			select {
			case <-e.exited[i]:
			case <-time.After(5 * time.Second):
				_ = p.Kill()
				select {
				case <-e.exited[i]:
				case <-time.After(5 * time.Second):
					errs = append(errs, fmt.Errorf("kubetest: pid %d did not exit", p.Pid))
				}
			}
		}
		close(e.spawn)
		<-e.spawnerDone
		if err := os.RemoveAll(e.Dir); err != nil {
			errs = append(errs, err)
		}
		e.stopErr = errors.Join(errs...)
	})
	return e.stopErr
}

func (e *Env) logTail(name string) string {
	b, err := os.ReadFile(filepath.Join(e.Dir, name+".log"))
	if err != nil {
		return ""
	}
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return "\n--- " + name + ".log (tail) ---\n" + string(bytes.TrimSpace(b))
}

// waitHTTP polls url until it answers 200, the process exits, ctx ends or
// timeout passes.
func waitHTTP(ctx context.Context, hc *http.Client, url string, timeout time.Duration, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("%s: %s: %s", url, resp.Status, bytes.TrimSpace(body))
		}
		last = err
		select {
		case <-exited:
			return errors.New("process exited")
		case <-ctx.Done():
			return errors.Join(ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// freePorts asks the kernel for n distinct free loopback ports. Another
// process may take one before it is used; the start then fails loudly.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

type pkiFiles struct {
	certFile, keyFile, saKeyFile string
	caPEM                        []byte
}

// writePKI writes a CA-signed serving certificate for 127.0.0.1/localhost
// and an RSA service-account key, all generated here.
func writePKI(dir string) (pkiFiles, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return pkiFiles{}, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "lbkit-kubetest-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return pkiFiles{}, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return pkiFiles{}, err
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return pkiFiles{}, err
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "kube-apiserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.IPv4(10, 96, 0, 1)},
		DNSNames:     []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return pkiFiles{}, err
	}
	srvKeyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		return pkiFiles{}, err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return pkiFiles{}, err
	}
	f := pkiFiles{
		certFile:  filepath.Join(dir, "apiserver.crt"),
		keyFile:   filepath.Join(dir, "apiserver.key"),
		saKeyFile: filepath.Join(dir, "sa.key"),
		caPEM:     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
	}
	certPEM := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srvDER}), f.caPEM...)
	writes := []struct {
		path string
		data []byte
	}{
		{f.certFile, certPEM},
		{f.keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: srvKeyDER})},
		{f.saKeyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)})},
	}
	for _, w := range writes {
		if err := os.WriteFile(w.path, w.data, 0o600); err != nil {
			return pkiFiles{}, err
		}
	}
	return f, nil
}

// Package stack runs the whole of lbkit on one machine, the way an
// operator runs it in a cluster: a real kube-apiserver + etcd, the
// reference binary's controller, a speaker in each node namespace of a
// netlab LAN, FRR as the network's router, a client on the LAN and a host
// behind the router. The lab demo, the lab's e2e benchmark and the
// end-to-end tests share it.
//
// There is no kubelet: Nodes are objects the stack creates, and "pods"
// are EndpointSlices the caller writes, pointing at the node namespaces,
// where a small HTTP server answers with the node's name on every address
// the node accepts (the service pools are local routes on lo, so a node
// accepts traffic for any service address but answers ARP/NDP for none:
// only lbkit's responder attracts the traffic).
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/lbkit/lbkit/internal/frr"
	"github.com/lbkit/lbkit/internal/kubetest"
	"github.com/lbkit/lbkit/internal/netlab"
	"github.com/lbkit/lbkit/k8s/crds"
)

// Addresses and numbers of the stack.
var (
	// L2Pool4/6 are on the LAN, for layer 2 services.
	L2Pool4 = netip.MustParsePrefix("192.0.2.192/27")
	L2Pool6 = netip.MustParsePrefix("2001:db8:1::100/120")
	// BGPPool4/6 are routed by the router to the nodes, for BGP services.
	BGPPool4 = netip.MustParsePrefix("203.0.113.0/24")
	BGPPool6 = netip.MustParsePrefix("2001:db8:100::/112")
)

const (
	// Namespace holds the metallb.io configuration.
	Namespace = "metallb-system"
	// RouterASN and NodeASN are the AS numbers of FRR and of the nodes.
	RouterASN = 64500
	NodeASN   = 64512
	// HTTPPort is where every node answers with its name.
	HTTPPort = 8080
	// apiPort is where the apiserver is forwarded inside each node.
	apiPort = 6443
)

// Options says what to run.
type Options struct {
	// Nodes is the number of nodes; 0 means 3.
	Nodes int
	// Log receives progress; nil discards it.
	Log *slog.Logger
	// Binary is a prebuilt lbkit binary; empty builds ./examples/lbkit.
	Binary string
}

// Stack is a running system. Close it.
type Stack struct {
	Lab     *netlab.Lab
	Env     *kubetest.Env
	Router  *frr.Router
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	// Binary is the lbkit binary the speakers and controller run.
	Binary string

	log      *slog.Logger
	dir      string
	closers  []func()
	mu       sync.Mutex // guards speakers, controller
	speakers map[string]*netlab.Process
	ctrl     *exec.Cmd
	ctrlDone chan struct{}
}

// Start builds the lab, starts FRR, the apiserver (CRDs installed, Node
// objects created) and the HTTP responders. It starts neither the
// controller nor the speakers: StartController and StartSpeaker do.
func Start(ctx context.Context, opt Options) (s *Stack, err error) {
	if opt.Nodes == 0 {
		opt.Nodes = 3
	}
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s = &Stack{log: log, speakers: map[string]*netlab.Process{}}
	defer func() {
		if err != nil {
			s.Close()
			s = nil
		}
	}()
	s.Binary = opt.Binary
	if s.Binary == "" {
		t0 := time.Now()
		if s.Binary, err = BuildBinary(ctx); err != nil {
			return s, err
		}
		s.closers = append(s.closers, func() { os.RemoveAll(filepath.Dir(s.Binary)) })
		log.Info("built lbkit", "binary", s.Binary, "took", time.Since(t0).Round(time.Millisecond))
	}

	t0 := time.Now()
	s.Lab, err = netlab.New(ctx, netlab.Options{Name: "stack", Nodes: opt.Nodes, Client: true, Router: true})
	if err != nil {
		return s, err
	}
	s.closers = append(s.closers, func() { s.Lab.Close() })
	s.dir = s.Lab.Dir
	for _, n := range s.Lab.Nodes() {
		if err := acceptPools(ctx, n); err != nil {
			return s, err
		}
		if err := s.serveName(n); err != nil {
			return s, err
		}
	}
	log.Info("network up", "namespaces", opt.Nodes+4, "took", time.Since(t0).Round(time.Millisecond))

	t0 = time.Now()
	router := s.Lab.Host("router")
	var nbrs []frr.Neighbor
	for _, n := range s.Lab.Nodes() {
		nbrs = append(nbrs, frr.Neighbor{Address: n.IPv4, ASN: NodeASN, DualStack: true})
	}
	s.Router, err = frr.Start(ctx, router, frr.Config{ASN: RouterASN, RouterID: router.IPv4, Neighbors: nbrs})
	if err != nil {
		return s, err
	}
	s.closers = append(s.closers, s.Router.Stop)
	log.Info("FRR up on the router", "asn", RouterASN, "took", time.Since(t0).Round(time.Millisecond))

	t0 = time.Now()
	s.Env, err = kubetest.Run(ctx, kubetest.Options{
		APIServerFlags: []string{"--service-cluster-ip-range=10.96.0.0/16,fd00:10:96::/108"},
	})
	if err != nil {
		return s, err
	}
	s.closers = append(s.closers, func() { s.Env.Stop() })
	s.Client = kubernetes.NewForConfigOrDie(s.Env.Config)
	s.Dynamic = dynamic.NewForConfigOrDie(s.Env.Config)
	if err := crds.Install(ctx, s.Dynamic); err != nil {
		return s, err
	}
	if _, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}, metav1.CreateOptions{}); err != nil {
		return s, err
	}
	for _, n := range s.Lab.Nodes() {
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: map[string]string{"kubernetes.io/hostname": n.Name}},
		}
		if _, err := s.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			return s, err
		}
		node.Status = corev1.NodeStatus{Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: n.IPv4.String()},
			{Type: corev1.NodeInternalIP, Address: n.IPv6.String()},
		}}
		if _, err := s.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
			return s, err
		}
		// The speakers reach the apiserver at 127.0.0.1:6443 inside their
		// namespace, relayed to the root namespace's loopback.
		_, stop, err := n.Forward(fmt.Sprintf("127.0.0.1:%d", apiPort), strings.TrimPrefix(s.Env.Config.Host, "https://"))
		if err != nil {
			return s, err
		}
		s.closers = append(s.closers, stop)
	}
	if err := s.writeKubeconfigs(); err != nil {
		return s, err
	}
	log.Info("kube-apiserver + etcd up, CRDs installed, Nodes created", "server", s.Env.Config.Host, "took", time.Since(t0).Round(time.Millisecond))
	return s, nil
}

// BuildBinary builds ./examples/lbkit into a temporary directory.
func BuildBinary(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("stack: go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	dir, err := os.MkdirTemp("", "lbkit-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "lbkit")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./examples/lbkit")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("stack: go build ./examples/lbkit: %w: %s", err, b)
	}
	return bin, nil
}

// acceptPools makes the node accept traffic for every pool address (local
// routes on lo) without answering ARP/NDP for them.
func acceptPools(ctx context.Context, h *netlab.Host) error {
	for _, p := range []netip.Prefix{L2Pool4, BGPPool4} {
		if _, err := h.Run(ctx, "ip", "route", "add", "local", p.String(), "dev", "lo"); err != nil {
			return err
		}
	}
	for _, p := range []netip.Prefix{L2Pool6, BGPPool6} {
		if _, err := h.Run(ctx, "ip", "-6", "route", "add", "local", p.String(), "dev", "lo"); err != nil {
			return err
		}
	}
	return nil
}

// serveName answers every HTTP request on the node with the node's name.
func (s *Stack) serveName(h *netlab.Host) error {
	ln, err := h.Listen("tcp", fmt.Sprintf(":%d", HTTPPort))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, h.Name)
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	s.closers = append(s.closers, func() { srv.Close() })
	return nil
}

func (s *Stack) writeKubeconfigs() error {
	for name, server := range map[string]string{
		"root": s.Env.Config.Host,
		"node": fmt.Sprintf("https://127.0.0.1:%d", apiPort),
	} {
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters["lab"] = &clientcmdapi.Cluster{Server: server,
			CertificateAuthorityData: s.Env.Config.TLSClientConfig.CAData,
			InsecureSkipTLSVerify:    len(s.Env.Config.TLSClientConfig.CAData) == 0}
		cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: s.Env.Config.BearerToken}
		cfg.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: "admin"}
		cfg.CurrentContext = "lab"
		if err := clientcmd.WriteToFile(*cfg, s.kubeconfig(name)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Stack) kubeconfig(name string) string { return filepath.Join(s.dir, "kubeconfig-"+name) }

// RESTConfig is an admin configuration for the root namespace.
func (s *Stack) RESTConfig() *rest.Config { return rest.CopyConfig(s.Env.Config) }

// StartController runs `lbkit controller` in the root namespace.
func (s *Stack) StartController(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ctrl != nil {
		return errors.New("stack: controller already running")
	}
	logf, err := os.OpenFile(filepath.Join(s.dir, "controller.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(s.Binary, "controller", "-kubeconfig", s.kubeconfig("root"), "-namespace", Namespace,
		"-metrics-addr", "", "-kube-api-qps", "500", "-kube-api-burst", "1000", "-identity", "lab-controller")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.ctrl, s.ctrlDone = cmd, make(chan struct{})
	done := s.ctrlDone
	go func() { cmd.Wait(); close(done) }()
	return nil
}

// StopController stops the controller with SIGTERM (SIGKILL after 10 s).
func (s *Stack) StopController() {
	s.mu.Lock()
	cmd, done := s.ctrl, s.ctrlDone
	s.ctrl = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// StartSpeaker runs `lbkit speaker` inside the node's namespace.
func (s *Stack) StartSpeaker(ctx context.Context, node string) error {
	h := s.Lab.Host(node)
	if h == nil {
		return fmt.Errorf("stack: no node %q", node)
	}
	var join []string
	for _, n := range s.Lab.Nodes() {
		join = append(join, net.JoinHostPort(n.IPv4.String(), "7946"))
	}
	p, err := h.Start(ctx, "speaker-"+node+".log", s.Binary, "speaker",
		"-kubeconfig", s.kubeconfig("node"), "-namespace", Namespace, "-node-name", node,
		"-ml-bind-addr", h.IPv4.String(), "-ml-join", strings.Join(join, ","), "-ml-profile", "fast",
		"-metrics-addr", "", "-kube-api-qps", "200", "-kube-api-burst", "400", "-bgp-gshut-delay", "1s")
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.speakers[node] = p
	s.mu.Unlock()
	return nil
}

// Speaker returns the node's speaker process, or nil.
func (s *Stack) Speaker(node string) *netlab.Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.speakers[node]
}

// StopSpeaker sends SIGTERM (a planned stop) and waits for the exit.
func (s *Stack) StopSpeaker(node string, timeout time.Duration) error {
	p := s.Speaker(node)
	if p == nil {
		return nil
	}
	p.Signal(syscall.SIGTERM)
	err := p.Wait(timeout)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		p.Kill()
	}
	return err
}

// KillNode cuts the node's link and SIGKILLs its speaker: node death.
func (s *Stack) KillNode(node string) error {
	if err := s.Lab.CutLink(node); err != nil {
		return err
	}
	if p := s.Speaker(node); p != nil {
		return p.Kill()
	}
	return nil
}

// Logs returns the tail of a log file of the stack ("controller.log",
// "speaker-node1.log").
func (s *Stack) Logs(name string, lines int) string {
	b, err := os.ReadFile(filepath.Join(s.dir, name))
	if err != nil {
		return err.Error()
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// Close stops everything, in reverse order of start.
func (s *Stack) Close() {
	s.StopController()
	s.mu.Lock()
	procs := s.speakers
	s.speakers = map[string]*netlab.Process{}
	s.mu.Unlock()
	for _, p := range procs {
		p.Kill()
	}
	for i := len(s.closers) - 1; i >= 0; i-- {
		s.closers[i]()
	}
}

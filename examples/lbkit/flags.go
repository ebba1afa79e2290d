package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/lbkit/lbkit/membership"
)

// Defaults of the flags both commands share.
const (
	defaultNamespace         = "metallb-system"
	defaultControllerMetrics = ":7472"
	defaultSpeakerMetrics    = ":7473"
	// The client-go default (5 QPS, burst 10) throttles the controller,
	// which writes two patches per service, to ~2 services a second.
	defaultQPS   = 200
	defaultBurst = 400
)

// commonOptions are the flags of both commands.
type commonOptions struct {
	kubeconfig  string
	namespace   string
	lbClass     string
	metricsAddr string
	logLevel    slog.Level
	qps         float64
	burst       int
}

func (o *commonOptions) register(fs *flag.FlagSet, metricsAddr string) {
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster config, else $KUBECONFIG, else ~/.kube/config)")
	fs.StringVar(&o.namespace, "namespace", defaultNamespace, "namespace of the metallb.io configuration and its Secrets (and of the controller's Lease, the speaker pods)")
	fs.StringVar(&o.lbClass, "lb-class", "", "handle Services of this spec.loadBalancerClass (default: Services with no class)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", metricsAddr, "serve /metrics and /healthz on this address (empty: off)")
	fs.TextVar(&o.logLevel, "log-level", slog.LevelInfo, "log level: debug, info, warn or error")
	fs.Float64Var(&o.qps, "kube-api-qps", defaultQPS, "client-side limit of API requests per second (negative: no limit)")
	fs.IntVar(&o.burst, "kube-api-burst", defaultBurst, "burst of API requests above -kube-api-qps")
}

func (o *commonOptions) check() error {
	if o.namespace == "" {
		return errors.New("-namespace must not be empty")
	}
	if o.qps > 0 && o.burst < 1 {
		return errors.New("-kube-api-burst must be at least 1")
	}
	return nil
}

// controllerOptions are the flags of `lbkit controller`.
type controllerOptions struct {
	commonOptions
	leaderElect bool
	leaseName   string
	identity    string
	workers     int
	installCRDs bool
}

func parseController(args []string, getenv func(string) string, out io.Writer) (controllerOptions, error) {
	var o controllerOptions
	fs := flag.NewFlagSet("lbkit controller", flag.ContinueOnError)
	fs.SetOutput(out)
	o.register(fs, defaultControllerMetrics)
	fs.BoolVar(&o.leaderElect, "leader-elect", true, "allocate only while holding the Lease, so one replica is active")
	fs.StringVar(&o.leaseName, "lease-name", "lbkit-controller", "name of the leader-election Lease in -namespace")
	fs.StringVar(&o.identity, "identity", "", "leader-election identity (default: $POD_NAME, else the host name)")
	fs.IntVar(&o.workers, "workers", 8, "services synced in parallel")
	fs.BoolVar(&o.installCRDs, "install-crds", false, "create or update the metallb.io CRDs at start (needs RBAC the deploy manifests do not grant)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := o.check(); err != nil {
		return o, err
	}
	if o.identity == "" {
		o.identity = getenv("POD_NAME")
	}
	if o.identity == "" {
		o.identity, _ = os.Hostname()
	}
	if o.leaderElect && (o.identity == "" || o.leaseName == "") {
		return o, errors.New("leader election needs -identity and -lease-name")
	}
	if o.workers < 1 {
		return o, errors.New("-workers must be at least 1")
	}
	return o, nil
}

// speakerOptions are the flags of `lbkit speaker`.
type speakerOptions struct {
	commonOptions
	nodeName string
	// mlBind is the memberlist address; an unspecified address lets
	// memberlist pick the address it advertises.
	mlBind      netip.AddrPort
	mlKey       []byte // derived from the memberlist secret; nil: no encryption
	mlLabels    string
	mlProfile   membership.Profile
	routerID    netip.Addr
	gshutDelay  time.Duration
	secretSrc   string // where mlKey came from, for the log
	mlJoinPeers []string
	l2, bgp     bool
}

// Environment variables the speaker reads, MetalLB's names.
const (
	envNodeName      = "NODE_NAME"
	envMLSecretPath  = "METALLB_ML_SECRET_KEY_PATH"
	envMLSecret      = "METALLB_ML_SECRET_KEY"
	envMLBindAddress = "METALLB_ML_BIND_ADDR"
)

func parseSpeaker(args []string, getenv func(string) string, out io.Writer) (speakerOptions, error) {
	var o speakerOptions
	fs := flag.NewFlagSet("lbkit speaker", flag.ContinueOnError)
	fs.SetOutput(out)
	o.register(fs, defaultSpeakerMetrics)
	var bindAddr, secretFile, profile, routerID, peers string
	var bindPort uint
	fs.StringVar(&o.nodeName, "node-name", getenv(envNodeName), "name of this node's Node object (default $"+envNodeName+")")
	fs.StringVar(&bindAddr, "ml-bind-addr", getenv(envMLBindAddress), "memberlist bind address, usually the pod (= node) IP (default $"+envMLBindAddress+", else 0.0.0.0)")
	fs.UintVar(&bindPort, "ml-bind-port", 7946, "memberlist TCP and UDP port")
	fs.StringVar(&secretFile, "ml-secret-file", getenv(envMLSecretPath), "file holding the memberlist secret, e.g. the mounted \"secretkey\" of Secret \"memberlist\" (default $"+envMLSecretPath+"; else the value of $"+envMLSecret+"; none: gossip unencrypted)")
	fs.StringVar(&o.mlLabels, "ml-labels", "app.kubernetes.io/name=lbkit,app.kubernetes.io/component=speaker", "label selector of the speaker pods in -namespace, the memberlist peers")
	fs.StringVar(&peers, "ml-join", "", "comma-separated host:port of memberlist peers to join, instead of listing speaker pods")
	fs.StringVar(&profile, "ml-profile", "lan", "memberlist timers: lan (failure detected in ~5 s) or fast (~1-2 s, quiet LANs only)")
	fs.StringVar(&routerID, "router-id", "", "BGP router ID for peers that set none (default: the -ml-bind-addr when IPv4)")
	fs.DurationVar(&o.gshutDelay, "bgp-gshut-delay", 0, "on stop, keep routes with GRACEFUL_SHUTDOWN this long before withdrawing (0: the bgp package default; negative: skip)")
	fs.BoolVar(&o.l2, "l2", true, "announce layer 2 addresses (ARP/NDP; needs NET_RAW) and run memberlist")
	fs.BoolVar(&o.bgp, "bgp", true, "announce over BGP")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := o.check(); err != nil {
		return o, err
	}
	if !o.l2 && !o.bgp {
		return o, errors.New("-l2=false and -bgp=false leave nothing to do")
	}
	if o.nodeName == "" {
		return o, errors.New("-node-name (or $" + envNodeName + ") is required")
	}
	addr := netip.IPv4Unspecified()
	if bindAddr != "" {
		a, err := netip.ParseAddr(bindAddr)
		if err != nil {
			return o, fmt.Errorf("-ml-bind-addr: %w", err)
		}
		addr = a.Unmap()
	}
	if bindPort == 0 || bindPort > 65535 {
		return o, fmt.Errorf("-ml-bind-port %d: want 1-65535", bindPort)
	}
	o.mlBind = netip.AddrPortFrom(addr, uint16(bindPort))
	for _, p := range strings.Split(peers, ",") {
		if p = strings.TrimSpace(p); p != "" {
			o.mlJoinPeers = append(o.mlJoinPeers, p)
		}
	}
	switch profile {
	case "lan":
		o.mlProfile = membership.ProfileLAN
	case "fast":
		o.mlProfile = membership.ProfileFastLAN
	default:
		return o, fmt.Errorf("-ml-profile %q: want lan or fast", profile)
	}
	if routerID != "" {
		id, err := netip.ParseAddr(routerID)
		if err != nil || !id.Is4() {
			return o, fmt.Errorf("-router-id %q: want an IPv4 address", routerID)
		}
		o.routerID = id
	} else if addr.Is4() && !addr.IsUnspecified() {
		o.routerID = addr
	}
	key, src, err := memberlistKey(secretFile, getenv(envMLSecret))
	if err != nil {
		return o, err
	}
	o.mlKey, o.secretSrc = key, src
	return o, nil
}

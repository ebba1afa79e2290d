package speaker

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/record"

	"github.com/lbkit/lbkit/announce"
	"github.com/lbkit/lbkit/membership"
)

// Defaults for zero Config fields.
const (
	DefaultWorkers     = 4
	DefaultStopTimeout = 10 * time.Second
	// DefaultStatusQPS and DefaultStatusBurst bound the rate of status
	// object writes (see Config.StatusQPS).
	DefaultStatusQPS   = 20
	DefaultStatusBurst = 50
	// DefaultEventQPS and DefaultEventBurst pace the events a speaker
	// writes (see Config.EventQPS).
	DefaultEventQPS   = 20
	DefaultEventBurst = 100
)

// Liveness says which speakers are alive. *membership.Membership
// satisfies it. Alive must return the same view on every node once gossip
// has converged; the speaker elects layer 2 owners among those nodes.
type Liveness interface {
	// Alive returns the names of the nodes with a live speaker.
	Alive() []string
	// Subscribe calls fn whenever the alive view may have changed, one
	// call at a time. The speaker re-elects inside fn, so that a peer's
	// planned drain is acknowledged only after this node has taken over
	// what it now owns.
	Subscribe(fn func(membership.Event)) (unregister func())
}

// Optional interfaces a Liveness may implement; *membership.Membership
// implements all of them.
type (
	// readier: the speaker claims no layer 2 address before Ready is
	// closed (alone, a node would elect itself for every address).
	readier interface{ Ready() <-chan struct{} }
	// watcher receives Election.Watch: the owners this node is next in
	// line after, for fast failure detection.
	watcher interface{ Watch(nodes []string) }
)

// BGPAnnouncer is an announcer that also holds BGP sessions; *bgp.Speaker
// satisfies it.
type BGPAnnouncer interface {
	announce.Announcer
	announce.PeerSetter
}

// reannouncer is implemented by layer 2 announcers that can repeat their
// gratuitous ARP / unsolicited NA burst (*l2.Announcer); the speaker calls
// it when a peer reclaims this node after a false alarm.
type reannouncer interface{ Reannounce() }

// BGPSessionStatus is one BGP session as the metrics report it.
type BGPSessionStatus struct {
	// Peer is the BGPPeer's name; Address its address.
	Peer    string
	Address netip.Addr
	// Established is true while the session is up.
	Established bool
	// PrefixesSent counts the prefixes advertised to the peer.
	PrefixesSent int
}

// L2Stats are the layer 2 announcer's counters as the metrics report them.
type L2Stats struct {
	ARPRequests, NDPSolicitations uint64
	ARPReplies, NDPAdvertisements uint64
	GratuitousARP, UnsolicitedNA  uint64
}

// Config configures a Speaker. Zero fields take the documented defaults.
type Config struct {
	// Client talks to the API server. Required.
	Client kubernetes.Interface
	// NodeName is the name of the Node this speaker runs on. Required.
	NodeName string
	// LoadBalancerClass selects the Services handled: those whose
	// spec.loadBalancerClass equals it, or, when empty, those with none.
	LoadBalancerClass string

	// L2 announces layer 2 addresses (an *l2.Announcer); nil disables
	// layer 2 mode. It needs Liveness.
	L2 announce.Announcer
	// BGP advertises over BGP and holds the sessions (a *bgp.Speaker); nil
	// disables BGP mode.
	BGP BGPAnnouncer
	// Liveness tells which speakers are alive (a *membership.Membership).
	// Required with L2.
	Liveness Liveness

	// Dynamic, when set, is used to write ServiceL2Status and
	// ServiceBGPStatus objects in Namespace (the speaker's namespace).
	Dynamic   dynamic.Interface
	Namespace string

	// Workers is the number of services synced in parallel; 0 means
	// DefaultWorkers. Deciding and announcing is serialised; workers
	// overlap the API calls that write status objects.
	Workers int
	// ResyncPeriod re-lists the informers' caches; 0 means never.
	ResyncPeriod time.Duration
	// StopTimeout bounds the withdrawals and status deletions Run does
	// once its context is done; 0 means DefaultStopTimeout.
	StopTimeout time.Duration
	// StatusQPS and StatusBurst bound how fast ServiceL2Status and
	// ServiceBGPStatus objects are written (services per second, burst).
	// Status is written apart from announcing, so a burst of services is
	// announced at once and its status objects follow at this rate. 0
	// means DefaultStatusQPS and DefaultStatusBurst.
	StatusQPS   float32
	StatusBurst int
	// EventQPS and EventBurst pace the events this speaker writes, like
	// the kubelet's --event-qps: each node reports each service it
	// announces, and a burst of services must not become an event storm.
	// 0 means DefaultEventQPS and DefaultEventBurst. Unused with Recorder.
	EventQPS   float32
	EventBurst int

	// Logger receives the speaker's logs; nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the speaker's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Recorder records events on Services; nil means events written to
	// the API server as component "lbkit-speaker".
	Recorder record.EventRecorder
	// BGPStatus, when set, is read at scrape time for the BGP session
	// metrics. The binary adapts bgp.Speaker.Status to it.
	BGPStatus func() []BGPSessionStatus
	// L2Stats, when set, is read at scrape time for the layer 2 packet
	// metrics. The binary adapts l2.Announcer.Stats to it.
	L2Stats func() L2Stats
}

func (c Config) validate() error {
	switch {
	case c.Client == nil:
		return errors.New("speaker: Config.Client is required")
	case c.NodeName == "":
		return errors.New("speaker: Config.NodeName is required")
	case c.L2 != nil && c.Liveness == nil:
		return errors.New("speaker: Config.Liveness is required with Config.L2")
	case c.Dynamic != nil && c.Namespace == "":
		return errors.New("speaker: Config.Namespace is required with Config.Dynamic")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers
	}
	if c.StopTimeout <= 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.StatusQPS <= 0 {
		c.StatusQPS = DefaultStatusQPS
	}
	if c.StatusBurst <= 0 {
		c.StatusBurst = DefaultStatusBurst
	}
	if c.EventQPS <= 0 {
		c.EventQPS = DefaultEventQPS
	}
	if c.EventBurst <= 0 {
		c.EventBurst = DefaultEventBurst
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// stopContext is the context of the work Run does after its own context
// is done: announcers refuse a done context.
func (c Config) stopContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.StopTimeout)
}

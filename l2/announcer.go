package l2

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lbkit/lbkit/announce"
)

// ErrRunning is returned by Run when the Announcer is already running.
var ErrRunning = errors.New("l2: announcer already running")

var _ announce.Announcer = (*Announcer)(nil)

// Announcer answers ARP and NDP for the addresses it announces. It is safe
// for concurrent use; Announce and Withdraw may be called before Run.
type Announcer struct {
	cfg   Config
	log   *slog.Logger
	kick  chan struct{}
	stats counters

	mu sync.Mutex
	// services holds what each service asked for, guarded by mu.
	services   map[string]service
	running    bool
	reannounce bool // Reannounce was called since the last refresh
}

type service struct {
	addrs  []netip.Addr
	ifaces []string
}

type counters struct {
	arpRequests, ndpSolicitations, arpReplies, ndpAdvertisements atomic.Uint64
	gratuitousARP, unsolicitedNA, errors                         atomic.Uint64
}

// New returns an Announcer; it opens no socket until Run.
func New(cfg Config) (*Announcer, error) {
	cfg.Interfaces = slices.Clone(cfg.Interfaces)
	if cfg.GratuitousCount == 0 {
		cfg.GratuitousCount = DefaultGratuitousCount
	}
	if cfg.GratuitousInterval <= 0 {
		cfg.GratuitousInterval = DefaultGratuitousInterval
	}
	if cfg.InterfacePoll <= 0 {
		cfg.InterfacePoll = DefaultInterfacePoll
	}
	if cfg.Sockets == nil {
		cfg.Sockets = RawSockets{}
	}
	if cfg.Links == nil {
		cfg.Links = netlinkLinks
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Announcer{
		cfg:      cfg,
		log:      log.With("component", "l2"),
		kick:     make(chan struct{}, 1),
		services: make(map[string]service),
	}, nil
}

// Announce starts answering for a.Addresses, replacing what was announced
// for a.Service before. IPv4 addresses are answered by ARP, IPv6 by NDP.
func (a *Announcer) Announce(ctx context.Context, an announce.Announcement) error {
	if an.Service == "" {
		return fmt.Errorf("%w: empty service name", announce.ErrInvalid)
	}
	addrs := make([]netip.Addr, 0, len(an.Addresses))
	for _, ip := range an.Addresses {
		ip = ip.Unmap().WithZone("")
		if !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() || ip.IsLoopback() {
			return fmt.Errorf("%w: service %s: cannot announce address %v on layer 2", announce.ErrInvalid, an.Service, ip)
		}
		addrs = append(addrs, ip)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	addrs = slices.Compact(addrs)
	s := service{addrs: addrs, ifaces: slices.Clone(an.L2.Interfaces)}
	a.mu.Lock()
	a.services[an.Service] = s
	a.mu.Unlock()
	a.wake()
	return nil
}

// Withdraw stops answering for every address of service.
func (a *Announcer) Withdraw(ctx context.Context, service string) error {
	a.mu.Lock()
	_, ok := a.services[service]
	delete(a.services, service)
	a.mu.Unlock()
	if ok {
		a.wake()
	}
	return nil
}

// Addresses returns the addresses currently asked for, over all services,
// sorted.
func (a *Announcer) Addresses() []netip.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []netip.Addr
	for _, s := range a.services {
		out = append(out, s.addrs...)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// Stats returns a snapshot of the counters.
func (a *Announcer) Stats() Stats {
	c := &a.stats
	return Stats{
		ARPRequests:       c.arpRequests.Load(),
		NDPSolicitations:  c.ndpSolicitations.Load(),
		ARPReplies:        c.arpReplies.Load(),
		NDPAdvertisements: c.ndpAdvertisements.Load(),
		GratuitousARP:     c.gratuitousARP.Load(),
		UnsolicitedNA:     c.unsolicitedNA.Load(),
		Errors:            c.errors.Load(),
	}
}

func (a *Announcer) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// Run opens sockets on the allowed interfaces, answers ARP and NDP and
// sends the gratuitous bursts until ctx is done. It then closes every
// socket and returns nil after all its goroutines have exited.
func (a *Announcer) Run(ctx context.Context) error {
	a.mu.Lock()
	if a.running {
		a.mu.Unlock()
		return ErrRunning
	}
	a.running = true
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.running = false
		a.mu.Unlock()
	}()

	ctx, cancel := context.WithCancel(ctx)
	r := &runner{a: a, ctx: ctx, links: make(map[int]*link)}
	defer func() {
		cancel()
		for _, l := range r.links {
			l.close()
		}
		r.wg.Wait()
	}()
	t := time.NewTicker(a.cfg.InterfacePoll)
	defer t.Stop()
	for {
		r.refresh()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-a.kick:
		}
	}
}

// Reannounce sends a new gratuitous ARP / unsolicited NA burst for every
// address currently announced, e.g. when another node may have answered
// for some of them and neighbours' caches must point back here.
func (a *Announcer) Reannounce() {
	a.mu.Lock()
	a.reannounce = true
	a.mu.Unlock()
	a.wake()
}

// snapshot copies the services under mu and takes the reannounce flag.
func (a *Announcer) snapshot() (out []service, reannounce bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	reannounce, a.reannounce = a.reannounce, false
	out = make([]service, 0, len(a.services))
	for _, s := range a.services {
		out = append(out, s)
	}
	return out, reannounce
}

// allowed reports whether s may be answered for on l.
func (a *Announcer) allowed(s service, l Link) bool {
	if !l.Up || l.Loopback || len(l.HardwareAddr) != 6 {
		return false
	}
	names := s.ifaces
	if len(names) == 0 {
		names = a.cfg.Interfaces
	}
	if len(names) == 0 {
		return l.eligible()
	}
	return slices.Contains(names, l.Name)
}

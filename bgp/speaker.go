package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/lbkit/lbkit/announce"
)

var (
	_ announce.Announcer  = (*Speaker)(nil)
	_ announce.PeerSetter = (*Speaker)(nil)
)

// ErrRunning is returned by a second concurrent call of Run.
var ErrRunning = errors.New("bgp: speaker already running")

// Speaker advertises service addresses to BGP peers. It is safe for
// concurrent use. Announce, Withdraw and SetPeers record the desired state
// and return; Run applies it (Flush waits until it has).
type Speaker struct {
	cfg  Config
	kick chan struct{}

	// mu guards the desired state below and the applied maps of sessions
	// while the reconcile goroutine reads them for a diff.
	mu sync.Mutex
	// services are the announcements, by service name, as contributions.
	services map[string][]contribution
	// prefixes indexes which services contribute to a prefix.
	prefixes map[netip.Prefix]map[string]struct{}
	// dirty are prefixes whose desired attributes may have changed.
	dirty map[netip.Prefix]struct{}
	// peers is the desired peer set; peersChanged says Run must re-diff.
	peers        map[string]announce.BGPPeer
	peersChanged bool
	running      bool
	// wantGen counts changes; doneGen is the last one Run has applied and
	// applied is closed (and replaced) whenever doneGen moves.
	wantGen, doneGen uint64
	applied          chan struct{}

	// statusMu guards the st field of every session and the sessions map
	// itself for readers other than Run.
	statusMu sync.Mutex
	sessions map[string]*session

	// idle engines, owned by Run.
	idle []*engine
}

// New returns a Speaker. It starts nothing: call Run.
func New(cfg Config) (*Speaker, error) {
	cfg = cfg.withDefaults()
	if cfg.RouterID.IsValid() && !cfg.RouterID.Unmap().Is4() {
		return nil, fmt.Errorf("%w: router ID %s is not an IPv4 address", ErrInvalidPeer, cfg.RouterID)
	}
	cfg.RouterID = cfg.RouterID.Unmap()
	return &Speaker{
		cfg:      cfg,
		kick:     make(chan struct{}, 1),
		services: make(map[string][]contribution),
		prefixes: make(map[netip.Prefix]map[string]struct{}),
		dirty:    make(map[netip.Prefix]struct{}),
		peers:    make(map[string]announce.BGPPeer),
		applied:  make(chan struct{}),
		sessions: make(map[string]*session),
	}, nil
}

func (s *Speaker) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Announce implements announce.Announcer: it advertises a.Addresses as
// a.BGP says, replacing what was advertised for a.Service before. An
// announcement with no BGP advertisement advertises nothing.
func (s *Speaker) Announce(ctx context.Context, a announce.Announcement) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	contribs, err := contributions(a)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.setServiceLocked(a.Service, contribs)
	s.mu.Unlock()
	s.poke()
	return nil
}

// Withdraw implements announce.Announcer.
func (s *Speaker) Withdraw(ctx context.Context, service string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	s.setServiceLocked(service, nil)
	s.mu.Unlock()
	s.poke()
	return nil
}

func (s *Speaker) setServiceLocked(service string, contribs []contribution) {
	for _, c := range s.services[service] {
		s.dirty[c.prefix] = struct{}{}
		if set := s.prefixes[c.prefix]; set != nil {
			delete(set, service)
			if len(set) == 0 {
				delete(s.prefixes, c.prefix)
			}
		}
	}
	if len(contribs) == 0 {
		delete(s.services, service)
	} else {
		s.services[service] = contribs
	}
	for _, c := range contribs {
		s.dirty[c.prefix] = struct{}{}
		set := s.prefixes[c.prefix]
		if set == nil {
			set = make(map[string]struct{}, 1)
			s.prefixes[c.prefix] = set
		}
		set[service] = struct{}{}
	}
	s.wantGen++
}

// SetPeers implements announce.PeerSetter: the speaker opens, reopens
// (when any option changed) and closes sessions until it holds exactly
// peers. It returns ErrInvalidPeer (wrapped) and changes nothing if any
// peer is invalid or two share a name.
func (s *Speaker) SetPeers(ctx context.Context, peers []announce.BGPPeer) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	want := make(map[string]announce.BGPPeer, len(peers))
	for _, p := range peers {
		np, err := s.cfg.normalizePeer(p)
		if err != nil {
			return err
		}
		if _, dup := want[np.Name]; dup {
			return fmt.Errorf("%w %q: name used twice", ErrInvalidPeer, np.Name)
		}
		want[np.Name] = np
	}
	s.mu.Lock()
	s.peers = want
	s.peersChanged = true
	s.wantGen++
	s.mu.Unlock()
	s.poke()
	return nil
}

// Flush waits until Run has applied every change made before the call
// (routes are then in the sessions' RIBs and queued to established peers).
func (s *Speaker) Flush(ctx context.Context) error {
	s.mu.Lock()
	want := s.wantGen
	s.mu.Unlock()
	for {
		s.mu.Lock()
		done, ch := s.doneGen, s.applied
		s.mu.Unlock()
		if done >= want {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Status returns a snapshot of every configured session, sorted by name.
func (s *Speaker) Status() []PeerStatus {
	s.statusMu.Lock()
	out := make([]PeerStatus, 0, len(s.sessions))
	for _, p := range s.sessions {
		st := p.st
		if p.sink != nil {
			st.LastError = p.sink.err()
		}
		if st.LastError != "" && p.peer.Password != "" && strings.Contains(st.LastError, "timeout") {
			st.LastError += " (no answer: TCP MD5 password mismatch, or the peer is unreachable)"
		}
		out = append(out, st)
	}
	s.statusMu.Unlock()
	slices.SortFunc(out, func(a, b PeerStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Run applies the desired state until ctx is done, then stops gracefully:
// every route is re-advertised with the GRACEFUL_SHUTDOWN community
// (RFC 8326), kept for Config.GracefulShutdownDelay, withdrawn, and the
// sessions are closed. It returns after its goroutines have exited (GoBGP's
// own server loops, one per session ever open at once, stay parked: GoBGP
// offers no way to end them).
func (s *Speaker) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return ErrRunning
	}
	s.running = true
	s.peersChanged = true // (re)open every session, also after an earlier Run
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = false
		s.mu.Unlock()
	}()

	// GoBGP calls take no cancellation once the speaker is stopping, so
	// they get a context of their own.
	bg := context.Background()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	s.reconcile(bg)
	for {
		select {
		case <-ctx.Done():
			s.shutdown(bg)
			return nil
		case <-s.kick:
		case <-tick.C:
		}
		s.reconcile(bg)
	}
}

// onEvent records a session event; it runs on a GoBGP goroutine.
func (s *Speaker) onEvent(p *session, ev *api.WatchEventResponse_PeerEvent) {
	if ev.Type != api.WatchEventResponse_PeerEvent_STATE || ev.Peer == nil || ev.Peer.State == nil {
		return
	}
	state := sessionState(ev.Peer.State.SessionState)
	s.statusMu.Lock()
	if p.st.State != state {
		p.st.State = state
		p.st.Since = time.Now()
	}
	p.st.PeerASN = ev.Peer.State.PeerAsn
	p.st.LocalAddress = netip.Addr{}
	if ev.Peer.Transport != nil {
		if a, err := netip.ParseAddr(ev.Peer.Transport.LocalAddress); err == nil && state == StateEstablished {
			p.st.LocalAddress = a.Unmap()
		}
	}
	s.statusMu.Unlock()
	p.sink.established.Store(state == StateEstablished)
	s.cfg.Logger.Info("session state", "peer", p.name, "address", p.peer.Address, "state", string(state))
	s.poke()
}

func sessionState(st api.PeerState_SessionState) SessionState {
	switch st {
	case api.PeerState_CONNECT:
		return StateConnect
	case api.PeerState_ACTIVE:
		return StateActive
	case api.PeerState_OPENSENT:
		return StateOpenSent
	case api.PeerState_OPENCONFIRM:
		return StateOpenConfirm
	case api.PeerState_ESTABLISHED:
		return StateEstablished
	default:
		return StateIdle
	}
}

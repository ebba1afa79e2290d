package membership

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

var (
	// ErrNotRunning is returned by Drain when Run is not running.
	ErrNotRunning = errors.New("membership: not running")
	// ErrHandoffIncomplete is returned by Drain when some peer did not
	// acknowledge before Config.HandoffTimeout or ctx ended.
	ErrHandoffIncomplete = errors.New("membership: hand-off not acknowledged by every peer")
)

// EventKind says what happened to a node.
type EventKind int

const (
	// Joined: the node became alive.
	Joined EventKind = iota
	// Left: the node left or was declared dead by memberlist.
	Left
	// Changed: the node is still a member but entered or left this node's
	// alive view (watching dropped or restored it, it is draining), or its
	// memberlist metadata changed.
	Changed
	// Reclaim: peer Node had dropped this node (a false alarm of
	// watching), may have announced some of its addresses meanwhile, and
	// has restored it. This node should announce what it owns again (for
	// layer 2: l2.Announcer.Reannounce) so that caches point back to it.
	Reclaim
)

func (k EventKind) String() string {
	switch k {
	case Joined:
		return "joined"
	case Left:
		return "left"
	case Changed:
		return "changed"
	case Reclaim:
		return "reclaim"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event tells subscribers that the alive view may have changed; they
// usually call Alive and recompute.
type Event struct {
	Kind EventKind
	Node string
}

// Membership tracks the alive nodes of a cluster. Its methods are safe for
// concurrent use.
type Membership struct {
	cfg     Config
	log     *slog.Logger
	wake    chan struct{} // the dispatcher has work
	ready   chan struct{} // closed once joined, see Ready
	readyMu sync.Once
	ackWake chan struct{} // Drain: an ack arrived

	mu sync.Mutex
	// Fields below are guarded by mu.
	list    *memberlist.Memberlist
	running bool
	subs    map[int]func(Event)
	nextSub int
	queue   []item
	leaving map[string]bool // peers that said they are draining
	down    map[string]bool // peers dropped by watching
	watch   []string        // nodes to ping directly
	acks    map[string]bool // peers that acknowledged our drain
	drained bool            // Drain finished: this node is out of its own view
}

// item is a unit of work for the dispatcher: an event or an ack to send.
type item struct {
	ev    Event
	ackTo string
}

// New checks cfg and returns a Membership; nothing runs before Run.
func New(cfg Config) (*Membership, error) {
	if cfg.Name == "" {
		return nil, errors.New("membership: Config.Name is required")
	}
	if n := len(cfg.SecretKey); n != 0 && n != 16 && n != 24 && n != 32 {
		return nil, fmt.Errorf("membership: SecretKey is %d bytes, want 16, 24 or 32", n)
	}
	cfg.Peers = slices.Clone(cfg.Peers)
	cfg.SecretKey = slices.Clone(cfg.SecretKey)
	cfg = cfg.withDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Membership{
		cfg:     cfg,
		log:     log.With("component", "membership", "node", cfg.Name),
		wake:    make(chan struct{}, 1),
		ready:   make(chan struct{}),
		ackWake: make(chan struct{}, 1),
		subs:    make(map[int]func(Event)),
		leaving: make(map[string]bool),
		down:    make(map[string]bool),
	}, nil
}

// Name returns this node's name.
func (m *Membership) Name() string { return m.cfg.Name }

// Subscribe calls fn for every event, one at a time and in order, from a
// goroutine owned by Run. fn should return promptly: a peer's drain is
// acknowledged only after every subscriber has returned from the event
// that dropped it, so a subscriber that takes over addresses should have
// sent its announcements by then. The returned func unregisters fn.
func (m *Membership) Subscribe(fn func(Event)) (unregister func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := m.nextSub
	m.nextSub++
	m.subs[id] = fn
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.subs, id)
	}
}

// Alive returns, sorted, the nodes this node considers alive: memberlist's
// members minus draining peers and peers dropped by watching, and minus
// this node once Drain has finished. It is empty before Run.
func (m *Membership) Alive() []string {
	m.mu.Lock()
	list := m.list
	m.mu.Unlock()
	if list == nil {
		return nil
	}
	members := list.Members() // not under mu: memberlist calls our delegates under its own lock
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(members))
	for _, n := range members {
		if n.Name == m.cfg.Name {
			if m.drained {
				continue
			}
		} else if m.leaving[n.Name] || m.down[n.Name] {
			continue
		}
		out = append(out, n.Name)
	}
	slices.Sort(out)
	return out
}

// Watch sets the nodes to ping directly (see the package doc); typically
// Election.Watch. It replaces the previous set.
func (m *Membership) Watch(nodes []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.watch = slices.Clone(nodes)
}

// enqueue adds work for the dispatcher; mu must be held.
func (m *Membership) enqueue(it item) {
	m.queue = append(m.queue, it)
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Run creates the memberlist, joins Config.Peers and runs until ctx is
// done; then it leaves gracefully (within Config.LeaveTimeout), shuts
// memberlist down and returns after every goroutine it started exited.
func (m *Membership) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.running {
		m.mu.Unlock()
		return errors.New("membership: already running")
	}
	m.running = true
	m.mu.Unlock()

	mc := m.cfg.memberlist()
	mc.Logger = newStdLogger(m.log.With("component", "memberlist"))
	d := &delegate{m: m}
	mc.Delegate = d
	mc.Events = d
	list, err := memberlist.Create(mc)
	if err != nil {
		m.mu.Lock()
		m.running = false
		m.mu.Unlock()
		return fmt.Errorf("membership: starting memberlist: %w", err)
	}
	m.mu.Lock()
	m.list = list
	m.mu.Unlock()
	m.log.Info("started", "addr", list.LocalNode().Address())

	inner, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, f := range []func(context.Context){m.dispatch, m.watchLoop, m.join} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(inner)
		}()
	}
	<-ctx.Done()
	if err := list.Leave(m.cfg.LeaveTimeout); err != nil {
		m.log.Warn("leave", "err", err)
	}
	cancel()
	if err := list.Shutdown(); err != nil {
		m.log.Warn("shutdown", "err", err)
	}
	wg.Wait()
	m.mu.Lock()
	m.list = nil
	m.running = false
	m.mu.Unlock()
	return nil
}

// Ready is closed once this node has joined a peer, or at once when
// Config.Peers is empty, or after Config.JoinTimeout without success (the
// node then assumes it is alone). A speaker should not claim addresses
// before: alone, it would elect itself for every one.
func (m *Membership) Ready() <-chan struct{} { return m.ready }

func (m *Membership) setReady() { m.readyMu.Do(func() { close(m.ready) }) }

func (m *Membership) join(ctx context.Context) {
	if len(m.cfg.Peers) == 0 {
		m.setReady()
		return
	}
	timeout := time.AfterFunc(m.cfg.JoinTimeout, func() {
		m.log.Warn("no peer answered, going on alone", "after", m.cfg.JoinTimeout)
		m.setReady()
	})
	defer timeout.Stop()
	for {
		m.mu.Lock()
		list := m.list
		m.mu.Unlock()
		n, err := list.Join(m.cfg.Peers)
		if n > 0 {
			m.log.Info("joined", "contacted", n)
			m.setReady()
			return
		}
		m.log.Info("join failed, retrying", "peers", m.cfg.Peers, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(m.cfg.JoinRetry):
		}
	}
}

// dispatch runs subscribers and sends acks, in queue order.
func (m *Membership) dispatch(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		}
		for {
			m.mu.Lock()
			if len(m.queue) == 0 {
				m.mu.Unlock()
				break
			}
			it := m.queue[0]
			m.queue = m.queue[1:]
			subs := make([]func(Event), 0, len(m.subs))
			for _, f := range m.subs {
				subs = append(subs, f)
			}
			m.mu.Unlock()
			if it.ackTo != "" {
				m.send(it.ackTo, msgAck)
				continue
			}
			for _, f := range subs {
				f(it.ev)
			}
		}
	}
}

// node finds a live member by name.
func (m *Membership) node(name string) *memberlist.Node {
	m.mu.Lock()
	list := m.list
	m.mu.Unlock()
	if list == nil {
		return nil
	}
	for _, n := range list.Members() {
		if n.Name == name {
			return n
		}
	}
	return nil
}

func (m *Membership) send(to string, kind byte) {
	n := m.node(to)
	if n == nil {
		return
	}
	m.mu.Lock()
	list := m.list
	m.mu.Unlock()
	if err := list.SendBestEffort(n, encodeMsg(kind, m.cfg.Name)); err != nil {
		m.log.Debug("sending message", "to", to, "err", err)
	}
}

// Drain hands this node's addresses over before it stops: it tells every
// peer that it is leaving and waits until each has acknowledged, which a
// peer does after its subscribers have processed the change (and so taken
// over what they now own), or until Config.HandoffTimeout or ctx ends.
// Afterwards Alive no longer lists this node. Call it, then stop
// announcing, then cancel Run's context.
func (m *Membership) Drain(ctx context.Context) error {
	m.mu.Lock()
	if m.list == nil {
		m.mu.Unlock()
		return ErrNotRunning
	}
	m.acks = make(map[string]bool)
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		m.drained = true
		m.enqueue(item{ev: Event{Kind: Changed, Node: m.cfg.Name}})
		m.mu.Unlock()
	}()

	ctx, cancel := context.WithTimeout(ctx, m.cfg.HandoffTimeout)
	defer cancel()
	resend := time.NewTicker(50 * time.Millisecond)
	defer resend.Stop()
	start := time.Now()
	for {
		var missing []string
		for _, p := range m.Alive() {
			m.mu.Lock()
			acked := m.acks[p]
			m.mu.Unlock()
			if p != m.cfg.Name && !acked {
				missing = append(missing, p)
			}
		}
		if len(missing) == 0 {
			m.log.Info("drained", "took", time.Since(start).Round(time.Millisecond))
			return nil
		}
		for _, p := range missing {
			m.send(p, msgLeaving)
		}
		select {
		case <-ctx.Done():
			m.log.Warn("hand-off incomplete", "missing", missing)
			return fmt.Errorf("%w: %v", ErrHandoffIncomplete, missing)
		case <-m.ackWake:
		case <-resend.C:
		}
	}
}

// Ping sends one direct ping to node and reports the round trip.
func (m *Membership) ping(name string) (time.Duration, error) {
	n := m.node(name)
	if n == nil {
		return 0, fmt.Errorf("membership: %s is not a member", name)
	}
	m.mu.Lock()
	list := m.list
	m.mu.Unlock()
	return list.Ping(n.Name, &net.UDPAddr{IP: n.Addr, Port: int(n.Port)})
}

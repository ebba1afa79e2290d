package membership

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
)

// mute is a transport that can go silent, like a node whose link was cut.
type mute struct {
	*memberlist.MockTransport
	silent atomic.Bool
}

var errSilent = errors.New("silent")

func (t *mute) WriteTo(b []byte, addr string) (time.Time, error) {
	if t.silent.Load() {
		return time.Now(), nil // dropped on the wire
	}
	return t.MockTransport.WriteTo(b, addr)
}

func (t *mute) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if t.silent.Load() {
		return time.Now(), nil
	}
	return t.MockTransport.WriteToAddress(b, a)
}

func (t *mute) DialAddressTimeout(a memberlist.Address, d time.Duration) (net.Conn, error) {
	if t.silent.Load() {
		return nil, errSilent
	}
	return t.MockTransport.DialAddressTimeout(a, d)
}

type node struct {
	m      *Membership
	tr     *mute
	cancel context.CancelFunc
	done   chan error
	mu     sync.Mutex
	events []Event
}

func (n *node) seen(k EventKind, name string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Contains(n.events, Event{k, name})
}

func cluster(t *testing.T, names []string, tweak func(*Config)) []*node {
	t.Helper()
	var mnet memberlist.MockNetwork
	var nodes []*node
	var first string
	// MockNetwork is not safe for NewTransport while nodes run.
	trs := make([]*mute, len(names))
	for i, name := range names {
		trs[i] = &mute{MockTransport: mnet.NewTransport(name)}
	}
	for i, name := range names {
		tr := trs[i]
		cfg := Config{Name: name, Transport: tr, Profile: ProfileFastLAN, JoinRetry: 10 * time.Millisecond}
		if first != "" {
			cfg.Peers = []string{first}
		} else {
			ip, port, _ := tr.FinalAdvertiseAddr("", 0)
			first = net.JoinHostPort(ip.String(), strconv.Itoa(port))
		}
		if tweak != nil {
			tweak(&cfg)
		}
		m, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		n := &node{m: m, tr: tr, done: make(chan error, 1)}
		m.Subscribe(func(e Event) {
			n.mu.Lock()
			n.events = append(n.events, e)
			n.mu.Unlock()
		})
		ctx, cancel := context.WithCancel(context.Background())
		n.cancel = cancel
		go func() { n.done <- m.Run(ctx) }()
		nodes = append(nodes, n)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop(t)
		}
	})
	for _, n := range nodes {
		waitFor(t, n.m.Name()+" sees everyone", func() bool { return slices.Equal(n.m.Alive(), names) })
	}
	return nodes
}

func (n *node) stop(t *testing.T) {
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	if err := <-n.done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// waitFor polls cond; the deadline only keeps a broken test from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("gave up waiting: %s", what)
}

func TestJoinAndLeave(t *testing.T) {
	names := []string{"a", "b", "c"}
	nodes := cluster(t, names, nil)
	for _, n := range nodes[1:] {
		waitFor(t, "join events", func() bool { return n.seen(Joined, "a") })
	}
	nodes[2].stop(t)
	for _, n := range nodes[:2] {
		waitFor(t, n.m.Name()+" sees c leave", func() bool { return n.seen(Left, "c") && slices.Equal(n.m.Alive(), names[:2]) })
	}
}

func TestUnsubscribe(t *testing.T) {
	m, err := New(Config{Name: "x"})
	if err != nil {
		t.Fatal(err)
	}
	unregister := m.Subscribe(func(Event) {})
	if len(m.subs) != 1 {
		t.Fatal("not subscribed")
	}
	unregister()
	if len(m.subs) != 0 {
		t.Fatal("still subscribed")
	}
	if m.Alive() != nil {
		t.Fatal("Alive before Run")
	}
	if err := m.Drain(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Drain before Run = %v", err)
	}
}

func TestDrainWaitsForPeers(t *testing.T) {
	names := []string{"a", "b", "c"}
	nodes := cluster(t, names, nil)
	// Peers record, inside their subscriber, whether they had already
	// dropped "a" when they handled the event: the ack follows it.
	var handled atomic.Int32
	for _, n := range nodes[1:] {
		n.m.Subscribe(func(e Event) {
			if e.Node == "a" && !slices.Contains(n.m.Alive(), "a") {
				handled.Add(1)
			}
		})
	}
	if err := nodes[0].m.Drain(context.Background()); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if got := handled.Load(); got < 2 {
		t.Fatalf("Drain returned after %d of 2 peers handled it", got)
	}
	if slices.Contains(nodes[0].m.Alive(), "a") {
		t.Fatal("drained node still in its own view")
	}
}

func TestWatchDropsSilentNodeAndRestoresIt(t *testing.T) {
	names := []string{"a", "b", "c"}
	nodes := cluster(t, names, func(c *Config) {
		// Memberlist alone would take many seconds; watching must not.
		c.ProbeInterval = 10 * time.Second
		c.WatchInterval = 5 * time.Millisecond
		c.WatchTimeout = 50 * time.Millisecond
		c.RecoverAfter = 100 * time.Millisecond
	})
	b := nodes[1]
	b.m.Watch([]string{"a"})
	nodes[0].tr.silent.Store(true)
	waitFor(t, "b drops a", func() bool { return slices.Equal(b.m.Alive(), []string{"b", "c"}) })
	if !slices.Contains(nodes[2].m.Alive(), "a") {
		t.Fatal("c, which does not watch a, dropped it too")
	}
	nodes[0].tr.silent.Store(false)
	waitFor(t, "b restores a", func() bool { return slices.Equal(b.m.Alive(), names) })
	waitFor(t, "a is told to reclaim", func() bool { return nodes[0].seen(Reclaim, "b") })
}

func TestDecodeMsg(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{name: "leaving", in: encodeMsg(msgLeaving, "node1"), ok: true},
		{name: "ack", in: encodeMsg(msgAck, "n"), ok: true},
		{name: "no name", in: encodeMsg(msgAck, "")},
		{name: "bad kind", in: encodeMsg(9, "n")},
		{name: "bad magic", in: []byte("xxxx\x01n")},
		{name: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, ok := decodeMsg(tt.in); ok != tt.ok {
				t.Fatalf("ok = %v, want %v", ok, tt.ok)
			}
		})
	}
}

func FuzzDecodeMsg(f *testing.F) {
	f.Add(encodeMsg(msgLeaving, "node1"))
	f.Add([]byte("lbk1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		kind, from, ok := decodeMsg(b)
		if ok && string(encodeMsg(kind, from)) != string(b) {
			t.Fatalf("round trip of %q", b)
		}
	})
}

func TestDrainGivesUpOnSilentPeer(t *testing.T) {
	nodes := cluster(t, []string{"a", "b", "c"}, func(c *Config) {
		c.ProbeInterval = 10 * time.Second // c stays a member while silent
		c.HandoffTimeout = 200 * time.Millisecond
	})
	nodes[2].tr.silent.Store(true)
	err := nodes[0].m.Drain(context.Background())
	if !errors.Is(err, ErrHandoffIncomplete) || !strings.Contains(err.Error(), "c") {
		t.Fatalf("Drain = %v, want ErrHandoffIncomplete naming c", err)
	}
	waitFor(t, "b told that a is leaving", func() bool { return nodes[1].seen(Changed, "a") })
}

package l2

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lbkit/lbkit/announce"
	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

// fakeARP is an in-memory ARP socket: tests push frames into in and read
// what the announcer wrote from out.
type fakeARP struct {
	in     chan []byte
	out    chan []byte
	closed chan struct{}
	once   sync.Once
}

func newFakeARP() *fakeARP {
	return &fakeARP{in: make(chan []byte, 16), out: make(chan []byte, 64), closed: make(chan struct{})}
}

func (f *fakeARP) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-f.in:
		return copy(b, p), nil, nil
	case <-f.closed:
		return 0, nil, net.ErrClosed
	}
}

func (f *fakeARP) WriteTo(b []byte, _ net.Addr) (int, error) {
	f.out <- append([]byte(nil), b...)
	return len(b), nil
}

func (f *fakeARP) Close() error                     { f.once.Do(func() { close(f.closed) }); return nil }
func (f *fakeARP) LocalAddr() net.Addr              { return nil }
func (f *fakeARP) SetDeadline(time.Time) error      { return nil }
func (f *fakeARP) SetReadDeadline(time.Time) error  { return nil }
func (f *fakeARP) SetWriteDeadline(time.Time) error { return nil }

type ndpWrite struct {
	m   ndp.Message
	dst netip.Addr
}

type fakeNDP struct {
	in     chan ndp.Message
	out    chan ndpWrite
	closed chan struct{}
	once   sync.Once

	mu     sync.Mutex
	groups map[netip.Addr]bool
}

func newFakeNDP() *fakeNDP {
	return &fakeNDP{in: make(chan ndp.Message, 16), out: make(chan ndpWrite, 64), closed: make(chan struct{}), groups: map[netip.Addr]bool{}}
}

func (f *fakeNDP) ReadFrom() (ndp.Message, *ipv6.ControlMessage, netip.Addr, error) {
	select {
	case m := <-f.in:
		return m, &ipv6.ControlMessage{HopLimit: ndp.HopLimit}, netip.MustParseAddr("2001:db8:1::100"), nil
	case <-f.closed:
		return nil, nil, netip.Addr{}, net.ErrClosed
	}
}

func (f *fakeNDP) WriteTo(m ndp.Message, _ *ipv6.ControlMessage, dst netip.Addr) error {
	f.out <- ndpWrite{m, dst}
	return nil
}

func (f *fakeNDP) JoinGroup(g netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.groups[g] = true
	return nil
}

func (f *fakeNDP) LeaveGroup(g netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.groups, g)
	return nil
}

func (f *fakeNDP) joined(g netip.Addr) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.groups[g]
}

func (f *fakeNDP) Close() error { f.once.Do(func() { close(f.closed) }); return nil }

type fakeSockets struct {
	mu  sync.Mutex
	arp map[string]*fakeARP
	ndp map[string]*fakeNDP
}

func (s *fakeSockets) ListenARP(l Link) (net.PacketConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := newFakeARP()
	s.arp[l.Name] = c
	return c, nil
}

func (s *fakeSockets) ListenNDP(l Link) (NDPConn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := newFakeNDP()
	s.ndp[l.Name] = c
	return c, nil
}

func (s *fakeSockets) get(name string) (*fakeARP, *fakeNDP) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.arp[name], s.ndp[name]
}

var testLinks = []Link{
	{Index: 1, Name: "lo", Up: true, Loopback: true},
	{Index: 2, Name: "eth0", Up: true, Broadcast: true, MTU: 1500, HardwareAddr: testMAC},
	{Index: 3, Name: "eth1", Up: true, Broadcast: true, MTU: 1500, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 2}},
	{Index: 4, Name: "port0", Up: true, Broadcast: true, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 3}, SlaveKind: "bridge"},
	{Index: 5, Name: "tun0", Up: true, NoARP: true, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 4}},
	{Index: 6, Name: "down0", Broadcast: true, HardwareAddr: net.HardwareAddr{2, 0, 0, 0, 0, 5}},
}

// harness runs an Announcer over fake sockets until the test ends.
type harness struct {
	a     *Announcer
	sock  *fakeSockets
	polls atomic.Int64 // calls of Config.Links, one per refresh
	links atomic.Pointer[[]Link]
}

// settle waits until a refresh started after this call has completed.
func (h *harness) settle(t *testing.T) {
	n := h.polls.Load()
	h.a.wake()
	waitFor(t, "a refresh", func() bool { return h.polls.Load() >= n+1 })
	h.a.wake()
	waitFor(t, "a second refresh", func() bool { return h.polls.Load() >= n+2 })
}

func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{sock: &fakeSockets{arp: map[string]*fakeARP{}, ndp: map[string]*fakeNDP{}}}
	cfg.Sockets = h.sock
	h.links.Store(&testLinks)
	cfg.Links = func() ([]Link, error) { h.polls.Add(1); return *h.links.Load(), nil }
	cfg.GratuitousInterval = time.Millisecond
	if cfg.GratuitousCount == 0 {
		cfg.GratuitousCount = 2
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.a = a
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return h
}

// waitFor polls cond; the deadline only keeps a broken test from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("gave up waiting for %s", what)
}

func (h *harness) sockets(t *testing.T, name string) (*fakeARP, *fakeNDP) {
	t.Helper()
	var a *fakeARP
	var n *fakeNDP
	waitFor(t, "sockets on "+name, func() bool { a, n = h.sock.get(name); return a != nil && n != nil })
	return a, n
}

func (h *harness) arpSocket(t *testing.T, name string) *fakeARP {
	t.Helper()
	var a *fakeARP
	waitFor(t, "ARP socket on "+name, func() bool { a, _ = h.sock.get(name); return a != nil })
	return a
}

func recv[T any](t *testing.T, c chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("nothing sent")
		panic("unreachable")
	}
}

func TestAnnounceAnswersARPAndNDP(t *testing.T) {
	h := start(t, Config{Interfaces: []string{"eth0"}})
	ctx := context.Background()
	if err := h.a.Announce(ctx, announce.Announcement{Service: "ns/web", Addresses: []netip.Addr{testVIP4, testVIP6}}); err != nil {
		t.Fatal(err)
	}
	arpc, ndpc := h.sockets(t, "eth0")
	// The burst: per round a gratuitous request and reply, and one NA.
	for i := 0; i < 4; i++ {
		f := recv(t, arpc.out)
		if _, err := parseARPRequest(f); err == nil && f[21] != 1 {
			t.Fatalf("unexpected frame %x", f)
		}
	}
	for i := 0; i < 2; i++ {
		w := recv(t, ndpc.out)
		na := w.m.(*ndp.NeighborAdvertisement)
		if w.dst != allNodes || na.Solicited || !na.Override || na.TargetAddress != testVIP6 {
			t.Fatalf("unsolicited NA = %+v to %v", na, w.dst)
		}
	}
	group, _ := ndp.SolicitedNodeMulticast(testVIP6)
	waitFor(t, "group join", func() bool { return ndpc.joined(group) })

	// A request for the VIP is answered, one for another address is not.
	other, _ := arpFrame(1, broadcastM, clientMAC, clientIP4, zeroMAC, netip.MustParseAddr("192.0.2.201"))
	arpc.in <- other
	req, _ := arpFrame(1, broadcastM, clientMAC, clientIP4, zeroMAC, testVIP4)
	arpc.in <- req
	rep := recv(t, arpc.out)
	if rep[21] != 2 || !slices.Equal(rep[0:6], clientMAC) || netip.AddrFrom4([4]byte(rep[28:32])) != testVIP4 {
		t.Fatalf("reply = %x", rep)
	}
	ndpc.in <- &ndp.NeighborSolicitation{TargetAddress: netip.MustParseAddr("2001:db8:1::201")}
	ndpc.in <- &ndp.NeighborSolicitation{TargetAddress: testVIP6}
	w := recv(t, ndpc.out)
	if na := w.m.(*ndp.NeighborAdvertisement); !na.Solicited || na.TargetAddress != testVIP6 || w.dst.WithZone("") != netip.MustParseAddr("2001:db8:1::100") {
		t.Fatalf("NA = %+v to %v", na, w.dst)
	}
	waitFor(t, "stats", func() bool {
		s := h.a.Stats()
		return s.ARPRequests == 2 && s.ARPReplies == 1 && s.NDPSolicitations == 2 && s.NDPAdvertisements == 1 &&
			s.GratuitousARP == 4 && s.UnsolicitedNA == 2
	})
	if s := h.a.Stats(); s.ARPReplies != 1 || s.NDPAdvertisements != 1 {
		t.Fatalf("answered for an address not owned: %+v", s)
	}

	// Reannounce sends the whole burst again.
	h.a.Reannounce()
	waitFor(t, "second burst", func() bool {
		s := h.a.Stats()
		return s.GratuitousARP == 8 && s.UnsolicitedNA == 4
	})

	// After Withdraw nothing is answered and the sockets are closed.
	if err := h.a.Withdraw(ctx, "ns/web"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "sockets closed", func() bool {
		select {
		case <-arpc.closed:
			return true
		default:
			return false
		}
	})
	if got := h.a.Addresses(); len(got) != 0 {
		t.Fatalf("Addresses after withdraw = %v", got)
	}
}

func TestDefaultInterfaces(t *testing.T) {
	tests := []struct {
		name   string
		cfg    []string
		svc    []string
		opened []string
	}{
		{name: "auto", opened: []string{"eth0", "eth1"}},
		{name: "config", cfg: []string{"eth1"}, opened: []string{"eth1"}},
		{name: "announcement overrides", cfg: []string{"eth1"}, svc: []string{"eth0"}, opened: []string{"eth0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, Config{Interfaces: tt.cfg, GratuitousCount: -1})
			err := h.a.Announce(context.Background(), announce.Announcement{
				Service: "s", Addresses: []netip.Addr{testVIP4, testVIP6}, L2: announce.L2Options{Interfaces: tt.svc},
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range tt.opened {
				h.sockets(t, name)
			}
			h.settle(t)
			h.sock.mu.Lock()
			var got []string
			for name := range h.sock.arp {
				got = append(got, name)
			}
			h.sock.mu.Unlock()
			slices.Sort(got)
			if !slices.Equal(got, tt.opened) {
				t.Fatalf("opened %v, want %v", got, tt.opened)
			}
		})
	}
}

func TestAnnounceInvalid(t *testing.T) {
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, an := range []announce.Announcement{
		{Addresses: []netip.Addr{testVIP4}},
		{Service: "s", Addresses: []netip.Addr{{}}},
		{Service: "s", Addresses: []netip.Addr{netip.MustParseAddr("ff02::1")}},
	} {
		if err := a.Announce(context.Background(), an); !errors.Is(err, announce.ErrInvalid) {
			t.Errorf("Announce(%+v) = %v, want ErrInvalid", an, err)
		}
	}
	if err := a.Withdraw(context.Background(), "unknown"); err != nil {
		t.Errorf("Withdraw(unknown) = %v", err)
	}
}

func TestInterfacesComeAndGo(t *testing.T) {
	h := start(t, Config{GratuitousCount: 1})
	only := []Link{testLinks[1]} // eth0
	h.links.Store(&only)
	if err := h.a.Announce(context.Background(), announce.Announcement{Service: "s", Addresses: []netip.Addr{testVIP4}}); err != nil {
		t.Fatal(err)
	}
	eth0 := h.arpSocket(t, "eth0")
	recv(t, eth0.out) // gratuitous request
	recv(t, eth0.out) // and reply

	// eth1 appears and eth0 goes: eth1 gets a burst, eth0's socket closes.
	next := []Link{testLinks[2]}
	h.links.Store(&next)
	h.a.wake()
	eth1 := h.arpSocket(t, "eth1")
	f := recv(t, eth1.out)
	if r, err := parseARPRequest(f); err != nil || r.targetIP != testVIP4 || !slices.Equal(r.senderMAC, testLinks[2].HardwareAddr) {
		t.Fatalf("gratuitous on eth1 = %x, %v", f, err)
	}
	waitFor(t, "eth0 closed", func() bool {
		select {
		case <-eth0.closed:
			return true
		default:
			return false
		}
	})
}

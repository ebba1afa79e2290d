package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lbkit/lbkit/internal/netlab"
	"github.com/lbkit/lbkit/membership"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
)

// These tests run the l2speaker binary in network namespaces: a client
// and three nodes on one bridge, the VIPs on each node's lo (arp_ignore=1,
// so only the speaker answers ARP for them), and the speaker's own HTTP
// server as the service that names the node.

var vips = []netip.Addr{
	netip.MustParseAddr("192.0.2.200"),
	netip.MustParseAddr("192.0.2.201"),
	netip.MustParseAddr("192.0.2.202"),
	netip.MustParseAddr("2001:db8:1::200"),
	netip.MustParseAddr("2001:db8:1::201"),
	netip.MustParseAddr("2001:db8:1::202"),
}

const httpPort = 8080

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// speakerBinary builds l2speaker once per test run.
func speakerBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "l2speaker-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "l2speaker")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

type lab struct {
	t      *testing.T
	lab    *netlab.Lab
	client *netlab.Host
	nodes  []*netlab.Host
	procs  map[string]*netlab.Process
	runs   map[string]int
}

func newLab(t *testing.T) *lab {
	l := netlab.NewT(t, netlab.Options{Nodes: 3, Client: true})
	x := &lab{t: t, lab: l, client: l.Host("client"), nodes: l.Nodes(), procs: map[string]*netlab.Process{}, runs: map[string]int{}}
	for _, n := range x.nodes {
		if err := n.AddLoopbackAddrs(vips...); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		// Watch false alarms are not failures (Reclaim repairs them) but
		// worth seeing: count them.
		drops := 0
		for _, p := range x.procs {
			b, _ := os.ReadFile(p.Log)
			drops += strings.Count(string(b), "watched node silent")
		}
		t.Logf("watch drops logged by the speakers: %d", drops)
		if t.Failed() {
			for name, p := range x.procs {
				b, err := os.ReadFile(p.Log)
				t.Logf("--- %s log (%v):\n%s", name, err, lastLines(string(b), 60))
			}
		}
	})
	return x
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (x *lab) host(name string) *netlab.Host { return x.lab.Host(name) }

func (x *lab) names() []string {
	var out []string
	for _, n := range x.nodes {
		out = append(out, n.Name)
	}
	return out
}

func (x *lab) start(h *netlab.Host) {
	x.t.Helper()
	var peers, list []string
	for _, n := range x.nodes {
		if n != h {
			peers = append(peers, netip.AddrPortFrom(n.IPv4, 7946).String())
		}
	}
	for _, v := range vips {
		list = append(list, v.String())
	}
	x.runs[h.Name]++
	p, err := h.Start(context.Background(), fmt.Sprintf("%s-%d.log", h.Name, x.runs[h.Name]), speakerBinary(x.t),
		"-name", h.Name, "-bind", netip.AddrPortFrom(h.IPv4, 7946).String(), "-peers", strings.Join(peers, ","),
		"-vips", strings.Join(list, ","), "-iface", h.Iface, "-http", fmt.Sprintf(":%d", httpPort),
		"-key", "000102030405060708090a0b0c0d0e0f") // gossip and watch pings encrypted
	if err != nil {
		x.t.Fatal(err)
	}
	x.procs[h.Name] = p
}

// httpGet fetches url from inside h's namespace.
func httpGet(h *netlab.Host, url string, timeout time.Duration) (string, error) {
	c := http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: h.DialContext, DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

func vipURL(v netip.Addr) string {
	return "http://" + netip.AddrPortFrom(v, httpPort).String() + "/"
}

// whoAnswers asks the VIP from the client which node serves it.
func (x *lab) whoAnswers(v netip.Addr) (string, error) {
	return httpGet(x.client, vipURL(v), time.Second)
}

type status struct {
	Node   string            `json:"node"`
	Alive  []string          `json:"alive"`
	Owners map[string]string `json:"owners"`
}

func (x *lab) status(h *netlab.Host) (status, error) {
	var s status
	body, err := httpGet(h, fmt.Sprintf("http://127.0.0.1:%d/status", httpPort), time.Second)
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal([]byte(body), &s)
}

func expectedOwners(alive []string) map[string]string {
	var c []membership.Candidate
	for _, v := range vips {
		c = append(c, membership.Candidate{Addr: v})
	}
	out := map[string]string{}
	for a, n := range membership.Elect("", c, alive).Owners {
		out[a.String()] = n
	}
	return out
}

// eventually polls cond every 100 ms; the bound only stops a broken test.
func eventually(t *testing.T, what string, bound time.Duration, cond func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(bound); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = cond(); err == nil {
			return
		}
	}
	t.Fatalf("%s: still failing after %v: %v", what, bound, err)
}

// converged checks that every node in alive reports exactly alive and the
// owners the election gives over it.
func (x *lab) converged(alive []string) error {
	want := expectedOwners(alive)
	for _, name := range alive {
		s, err := x.status(x.host(name))
		if err != nil {
			return err
		}
		if !slices.Equal(s.Alive, alive) {
			return fmt.Errorf("%s sees alive %v, want %v", name, s.Alive, alive)
		}
		if !maps.Equal(s.Owners, want) {
			return fmt.Errorf("%s sees owners %v, want %v", name, s.Owners, want)
		}
	}
	return nil
}

func (x *lab) clientReaches(owners map[string]string) error {
	for _, v := range vips {
		got, err := x.whoAnswers(v)
		if err != nil {
			return fmt.Errorf("%v: %w", v, err)
		}
		if got != owners[v.String()] {
			return fmt.Errorf("%v answered by %s, want %s", v, got, owners[v.String()])
		}
	}
	return nil
}

func macOf(t *testing.T, h *netlab.Host) net.HardwareAddr {
	var mac net.HardwareAddr
	err := h.Do(func() error {
		ifi, err := net.InterfaceByName(h.Iface)
		if err == nil {
			mac = ifi.HardwareAddr
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return mac
}

// resolvers asks for v once from the client, by ARP or NDP, and returns
// the distinct MACs that answered within 500 ms.
func resolvers(t *testing.T, client *netlab.Host, v netip.Addr) []string {
	t.Helper()
	var ifi *net.Interface
	var ac *arp.Client
	var nc *ndp.Conn
	var src netip.Addr
	err := client.Do(func() error {
		var err error
		if ifi, err = net.InterfaceByName(client.Iface); err != nil {
			return err
		}
		if v.Is4() {
			ac, err = arp.Dial(ifi)
			return err
		}
		nc, src, err = ndp.Listen(ifi, ndp.LinkLocal)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	deadline := time.Now().Add(500 * time.Millisecond)
	if v.Is4() {
		defer ac.Close()
		if err := ac.Request(v); err != nil {
			t.Fatal(err)
		}
		ac.SetReadDeadline(deadline)
		for {
			p, _, err := ac.Read()
			if err != nil {
				break
			}
			if p.Operation == arp.OperationReply && p.SenderIP == v {
				seen[p.SenderHardwareAddr.String()] = true
			}
		}
	} else {
		defer nc.Close()
		group, _ := ndp.SolicitedNodeMulticast(v)
		ns := &ndp.NeighborSolicitation{TargetAddress: v, Options: []ndp.Option{
			&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: ifi.HardwareAddr}}}
		// Zones resolve by name in the calling thread's namespace: write from inside.
		if err := client.Do(func() error { return nc.WriteTo(ns, nil, group) }); err != nil {
			t.Fatalf("NS from %v: %v", src, err)
		}
		nc.SetReadDeadline(deadline)
		for {
			m, _, _, err := nc.ReadFrom()
			if err != nil {
				break
			}
			if na, ok := m.(*ndp.NeighborAdvertisement); ok && na.TargetAddress == v {
				for _, o := range na.Options {
					if lla, ok := o.(*ndp.LinkLayerAddress); ok {
						seen[lla.Addr.String()] = true
					}
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(seen))
}

// serveName runs a plain HTTP server naming h on h's port (no speaker).
func serveName(t *testing.T, h *netlab.Host) {
	ln, err := h.Listen("tcp", fmt.Sprintf(":%d", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, h.Name) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

func TestNegativeControlNoSpeaker(t *testing.T) {
	x := newLab(t)
	for _, n := range x.nodes {
		serveName(t, n)
	}
	// The servers work: the client reaches each node on its own address.
	for _, n := range x.nodes {
		if got, err := httpGet(x.client, "http://"+netip.AddrPortFrom(n.IPv4, httpPort).String()+"/", 2*time.Second); err != nil || got != n.Name {
			t.Fatalf("node %s direct: %q, %v", n.Name, got, err)
		}
	}
	// Nobody answers ARP/NDP for the VIPs, so the client cannot reach them.
	for _, v := range []netip.Addr{vips[0], vips[3]} {
		if got, err := x.whoAnswers(v); err == nil {
			t.Fatalf("%v reachable without a speaker (answered by %s): the kernel answers for it", v, got)
		}
		if r := resolvers(t, x.client, v); len(r) != 0 {
			t.Fatalf("%v resolved by %v without a speaker", v, r)
		}
	}
}

// prober dials the VIPs every 10 ms from the client and counts failures.
type prober struct {
	sent, failed atomic.Int64
	mu           sync.Mutex
	failures     []string
	stop         chan struct{}
	done         sync.WaitGroup
}

func startProber(client *netlab.Host, targets []netip.Addr) *prober {
	p := &prober{stop: make(chan struct{})}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		var wg sync.WaitGroup
		defer wg.Wait()
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
			v := targets[i%len(targets)]
			wg.Add(1)
			p.sent.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
				defer cancel()
				c, err := client.DialContext(ctx, "tcp", netip.AddrPortFrom(v, httpPort).String())
				if err != nil {
					p.failed.Add(1)
					p.mu.Lock()
					p.failures = append(p.failures, fmt.Sprintf("%s %v: %v", time.Now().Format("15:04:05.000"), v, err))
					p.mu.Unlock()
					return
				}
				c.Close()
			}()
		}
	}()
	return p
}

func (p *prober) finish() {
	close(p.stop)
	p.done.Wait()
}

func TestL2Speaker(t *testing.T) {
	x := newLab(t)
	all := x.names()
	for _, n := range x.nodes {
		x.start(n)
	}
	eventually(t, "cluster converges", 20*time.Second, func() error { return x.converged(all) })
	initial := expectedOwners(all)
	t.Logf("owners: %v", initial)

	if !t.Run("one node answers, v4 and v6", func(t *testing.T) {
		eventually(t, "client reaches every VIP on its owner", 10*time.Second, func() error { return x.clientReaches(initial) })
		for _, v := range []netip.Addr{vips[0], vips[3]} {
			owner := x.host(initial[v.String()])
			got := resolvers(t, x.client, v)
			if want := []string{macOf(t, owner).String()}; !slices.Equal(got, want) {
				t.Fatalf("%v resolved by %v, want only %s's %v", v, got, owner.Name, want)
			}
		}
	}) {
		return
	}

	victim := initial[vips[0].String()]
	survivors := slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == victim })
	afterCrash := expectedOwners(survivors)
	if !t.Run("node death", func(t *testing.T) {
		if err := x.lab.CutLink(victim); err != nil {
			t.Fatal(err)
		}
		if err := x.procs[victim].Kill(); err != nil {
			t.Fatal(err)
		}
		eventually(t, "client reaches every VIP via a survivor", 15*time.Second, func() error { return x.clientReaches(afterCrash) })
		eventually(t, "survivors agree", 15*time.Second, func() error { return x.converged(survivors) })
	}) {
		return
	}

	if !t.Run("node comes back, only its addresses move", func(t *testing.T) {
		if err := x.lab.RestoreLink(victim); err != nil {
			t.Fatal(err)
		}
		x.start(x.host(victim))
		eventually(t, "cluster converges again", 20*time.Second, func() error { return x.converged(all) })
		for a, owner := range initial {
			if afterCrash[a] != owner && owner != victim {
				t.Errorf("%s moved from %s to %s, though only %s came back", a, afterCrash[a], owner, victim)
			}
		}
		eventually(t, "client follows", 10*time.Second, func() error { return x.clientReaches(initial) })
		// No flapping: owners stay put while we watch for 3 s.
		for i := 0; i < 30; i++ {
			if err := x.converged(all); err != nil {
				t.Fatalf("flapping after %d00 ms: %v", i, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}) {
		return
	}

	t.Run("planned stop loses nothing", func(t *testing.T) {
		// A node owning IPv4 and IPv6 VIPs, so both hand-offs are probed.
		leaver := initial[vips[0].String()]
		for _, n := range all {
			var v4, v6 bool
			for _, v := range vips {
				if initial[v.String()] == n {
					v4, v6 = v4 || v.Is4(), v6 || v.Is6()
				}
			}
			if v4 && v6 {
				leaver = n
				break
			}
		}
		rest := slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == leaver })
		var targets []netip.Addr
		for _, v := range vips {
			if initial[v.String()] == leaver {
				targets = append(targets, v)
			}
		}
		p := startProber(x.client, targets)
		time.Sleep(500 * time.Millisecond)
		if err := x.procs[leaver].Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := x.procs[leaver].Wait(15 * time.Second); err != nil {
			t.Fatalf("speaker did not exit cleanly: %v", err)
		}
		time.Sleep(time.Second) // the old owner is gone; keep probing
		p.finish()
		t.Logf("planned stop of %s: %d probes to %v, %d failed", leaver, p.sent.Load(), targets, p.failed.Load())
		if p.failed.Load() != 0 {
			t.Fatalf("lost probes: %v", p.failures)
		}
		eventually(t, "client reaches every VIP on the rest", 10*time.Second, func() error { return x.clientReaches(expectedOwners(rest)) })
	})
}

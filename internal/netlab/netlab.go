package netlab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Addressing plan. All of it is documentation space and exists only inside
// the lab's namespaces.
var (
	LAN4 = netip.MustParsePrefix("192.0.2.0/24")
	LAN6 = netip.MustParsePrefix("2001:db8:1::/64")
	Ext4 = netip.MustParsePrefix("198.51.100.0/24")
	Ext6 = netip.MustParsePrefix("2001:db8:2::/64")
)

// nsPrefix starts every namespace name netlab creates; stale-lab cleanup
// only ever touches names with this prefix.
const nsPrefix = "lbk"

// stateRoot holds one directory per live lab, with the owner's PID, so a
// later New can remove labs whose owner died.
const stateRoot = "/run/lbkit-netlab"

// Options says what to build.
type Options struct {
	// Name is a short tag that makes the namespace names recognisable; a
	// random suffix always keeps concurrent labs apart.
	Name string
	// Nodes is the number of nodes on the LAN, node1..nodeN; 0 means 3.
	Nodes int
	// Client adds a "client" host on the LAN.
	Client bool
	// Router adds a "router" host on the LAN (forwarding, ECMP hashing on
	// L4) and an "ext" host behind it; LAN hosts route through it.
	Router bool
}

// Lab is a built topology. Its methods are safe for concurrent use.
type Lab struct {
	// Prefix starts every namespace name of this lab.
	Prefix string
	// Dir is a private directory for configs, logs and sockets; removed on Close.
	Dir string

	mu     sync.Mutex // guards hosts, procs, closed
	hosts  map[string]*Host
	order  []string
	procs  []*Process
	closed bool
}

// Host is one namespace of the lab.
type Host struct {
	// Name is the host's name in the lab ("node1", "client", "router", ...).
	Name string
	// NS is the network namespace's name (for `ip netns exec`).
	NS string
	// Iface is the host's LAN interface ("eth0"), empty if it has none.
	Iface string
	// IPv4 and IPv6 are the host's LAN (or, for ext, its only) addresses.
	IPv4, IPv6 netip.Addr
	// Lab is the lab the host belongs to.
	Lab *Lab
}

// RequireRoot skips tb unless the process is root and iproute2 is present.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("netlab: needs root to create network namespaces (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		tb.Skip("netlab: iproute2's ip command is missing (scripts/install-deps.sh installs it)")
	}
}

// NewT builds a lab for a test and closes it when the test ends.
func NewT(tb testing.TB, opt Options) *Lab {
	tb.Helper()
	RequireRoot(tb)
	if opt.Name == "" {
		opt.Name = tb.Name()
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := New(ctx, opt)
	if err != nil {
		tb.Fatalf("netlab: %v", err)
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Errorf("netlab: close: %v", err)
		}
	})
	return l
}

// New builds the topology opt describes. On error nothing is left behind.
func New(ctx context.Context, opt Options) (*Lab, error) {
	if opt.Nodes == 0 {
		opt.Nodes = 3
	}
	if opt.Nodes < 0 || opt.Nodes > 80 {
		return nil, fmt.Errorf("netlab: %d nodes: want 1..80", opt.Nodes)
	}
	removeStale()
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, err
	}
	// Interface and namespace names stay short: a tag of at most 4 chars.
	prefix := nsPrefix + sanitize(opt.Name, 4) + hex.EncodeToString(rnd[:]) + "-"
	dir := filepath.Join(stateRoot, strings.TrimSuffix(prefix, "-"))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("netlab: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, fmt.Errorf("netlab: %w", err)
	}
	l := &Lab{Prefix: prefix, Dir: dir, hosts: map[string]*Host{}}
	if err := l.build(ctx, opt); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

func (l *Lab) build(ctx context.Context, opt Options) error {
	br, err := l.AddHost("br")
	if err != nil {
		return err
	}
	if err := run(ctx, "ip", "-n", br.NS, "link", "add", "br0", "type", "bridge",
		"stp_state", "0", "forward_delay", "0", "mcast_snooping", "0"); err != nil {
		return err
	}
	if err := run(ctx, "ip", "-n", br.NS, "link", "set", "br0", "up"); err != nil {
		return err
	}
	type lanHost struct {
		name string
		host byte
	}
	var lan []lanHost
	if opt.Router {
		lan = append(lan, lanHost{"router", 1})
	}
	for i := 1; i <= opt.Nodes; i++ {
		lan = append(lan, lanHost{fmt.Sprintf("node%d", i), byte(10 + i)})
	}
	if opt.Client {
		lan = append(lan, lanHost{"client", 100})
	}
	for _, lh := range lan {
		h, err := l.AddHost(lh.name)
		if err != nil {
			return err
		}
		h.Iface = "eth0"
		h.IPv4 = hostAddr(LAN4, lh.host)
		h.IPv6 = hostAddr(LAN6, lh.host)
		if err := run(ctx, "ip", "link", "add", "eth0", "netns", h.NS, "type", "veth", "peer", "name", lh.name, "netns", br.NS); err != nil {
			return err
		}
		if err := run(ctx, "ip", "-n", br.NS, "link", "set", lh.name, "master", "br0", "up"); err != nil {
			return err
		}
		if err := h.addrUp(ctx, "eth0", netip.PrefixFrom(h.IPv4, LAN4.Bits()), netip.PrefixFrom(h.IPv6, LAN6.Bits())); err != nil {
			return err
		}
		if lh.name != "router" {
			if err := h.Sysctl("net.ipv4.conf.all.arp_ignore=1", "net.ipv4.conf.all.arp_announce=2"); err != nil {
				return err
			}
		}
	}
	if !opt.Router {
		return nil
	}
	router, ext := l.Host("router"), (*Host)(nil)
	if ext, err = l.AddHost("ext"); err != nil {
		return err
	}
	ext.Iface = "eth0"
	ext.IPv4, ext.IPv6 = hostAddr(Ext4, 2), hostAddr(Ext6, 2)
	if err := l.Link(router, "eth1", []netip.Prefix{netip.PrefixFrom(hostAddr(Ext4, 1), 24), netip.PrefixFrom(hostAddr(Ext6, 1), 64)},
		ext, "eth0", []netip.Prefix{netip.PrefixFrom(ext.IPv4, 24), netip.PrefixFrom(ext.IPv6, 64)}); err != nil {
		return err
	}
	if err := router.Sysctl("net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1",
		"net.ipv4.conf.all.send_redirects=0", "net.ipv4.fib_multipath_hash_policy=1", "net.ipv6.fib_multipath_hash_policy=1"); err != nil {
		return err
	}
	for _, name := range l.names() {
		h := l.Host(name)
		if name == "router" || name == "br" {
			continue
		}
		gw4, gw6 := router.IPv4, router.IPv6
		if name == "ext" {
			gw4, gw6 = hostAddr(Ext4, 1), hostAddr(Ext6, 1)
		}
		if _, err := h.Run(ctx, "ip", "route", "add", "default", "via", gw4.String()); err != nil {
			return err
		}
		if _, err := h.Run(ctx, "ip", "-6", "route", "add", "default", "via", gw6.String()); err != nil {
			return err
		}
	}
	return nil
}

// AddHost adds an empty namespace (loopback up, the lab's sysctls).
func (l *Lab) AddHost(name string) (*Host, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, errors.New("netlab: lab is closed")
	}
	if _, ok := l.hosts[name]; ok {
		l.mu.Unlock()
		return nil, fmt.Errorf("netlab: host %q exists", name)
	}
	h := &Host{Name: name, NS: l.Prefix + name, Lab: l}
	l.hosts[name] = h
	l.order = append(l.order, name)
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, "ip", "netns", "add", h.NS); err != nil {
		return nil, err
	}
	if err := run(ctx, "ip", "-n", h.NS, "link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	err := h.Sysctl(
		"net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0",
		"net.ipv6.conf.all.keep_addr_on_down=1", "net.ipv6.conf.default.keep_addr_on_down=1",
		"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0",
	)
	return h, err
}

// Link joins a and b with a veth pair (aIf in a, bIf in b), gives each end
// its addresses (IPv6 without DAD) and brings both up.
func (l *Lab) Link(a *Host, aIf string, aAddrs []netip.Prefix, b *Host, bIf string, bAddrs []netip.Prefix) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Both ends are created directly in their namespaces, so they may share
	// a name ("eth0") and nothing appears in the root namespace.
	if err := run(ctx, "ip", "link", "add", aIf, "netns", a.NS, "type", "veth", "peer", "name", bIf, "netns", b.NS); err != nil {
		return err
	}
	if err := a.addrUp(ctx, aIf, aAddrs...); err != nil {
		return err
	}
	return b.addrUp(ctx, bIf, bAddrs...)
}

func (h *Host) addrUp(ctx context.Context, ifname string, addrs ...netip.Prefix) error {
	for _, p := range addrs {
		args := []string{"-n", h.NS, "addr", "add", p.String(), "dev", ifname}
		if p.Addr().Is6() {
			args = append(args, "nodad")
		}
		if err := run(ctx, "ip", args...); err != nil {
			return err
		}
	}
	return run(ctx, "ip", "-n", h.NS, "link", "set", ifname, "up")
}

// Host returns the named host, or nil.
func (l *Lab) Host(name string) *Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.hosts[name]
}

// Nodes returns node1..nodeN in order.
func (l *Lab) Nodes() []*Host {
	var out []*Host
	for i := 1; ; i++ {
		h := l.Host(fmt.Sprintf("node%d", i))
		if h == nil {
			return out
		}
		out = append(out, h)
	}
}

func (l *Lab) names() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.order...)
}

// CutLink sets the host's bridge port down: on the wire, the host is gone,
// while its own interface keeps its addresses.
func (l *Lab) CutLink(name string) error { return l.setPort(name, "down") }

// RestoreLink brings the host's bridge port back up.
func (l *Lab) RestoreLink(name string) error { return l.setPort(name, "up") }

func (l *Lab) setPort(name, state string) error {
	br := l.Host("br")
	if br == nil || l.Host(name) == nil {
		return fmt.Errorf("netlab: no host %q on the LAN", name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return run(ctx, "ip", "-n", br.NS, "link", "set", name, state)
}

// Close kills every process still running in the lab's namespaces (by
// PID), deletes the namespaces and the lab's directory.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	procs := l.procs
	names := append([]string(nil), l.order...)
	l.mu.Unlock()
	for _, p := range procs {
		p.Kill()
	}
	var errs []error
	for i := len(names) - 1; i >= 0; i-- {
		if err := deleteNamespace(l.Prefix + names[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(l.Dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// deleteNamespace kills the processes inside ns by PID, then deletes it.
func deleteNamespace(ns string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := os.Stat(filepath.Join("/run/netns", ns)); err != nil {
		return nil
	}
	for attempt := 0; attempt < 20; attempt++ {
		out, _ := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output()
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			break
		}
		for _, s := range pids {
			if pid, err := strconv.Atoi(s); err == nil && pid != os.Getpid() {
				if p, err := os.FindProcess(pid); err == nil {
					p.Kill()
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return run(ctx, "ip", "netns", "del", ns)
}

// removeStale deletes the namespaces and state of labs whose owner died.
func removeStale() {
	entries, err := os.ReadDir(stateRoot)
	if err != nil {
		return
	}
	for _, e := range entries {
		dir := filepath.Join(stateRoot, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, "owner.pid"))
		if err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && processAlive(pid) {
				continue
			}
		}
		prefix := e.Name() + "-"
		if ents, err := os.ReadDir("/run/netns"); err == nil {
			for _, ns := range ents {
				if strings.HasPrefix(ns.Name(), prefix) {
					deleteNamespace(ns.Name())
				}
			}
		}
		os.RemoveAll(dir)
	}
}

func processAlive(pid int) bool {
	_, err := os.Stat(fmt.Sprintf("/proc/%d", pid))
	return err == nil
}

// Sysctl sets kernel parameters inside the host's namespace ("key=value").
func (h *Host) Sysctl(kv ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := h.Run(ctx, "sysctl", append([]string{"-qw"}, kv...)...)
	return err
}

// AddLoopbackAddrs puts addrs on the host's lo (/32, /128) so it accepts
// traffic for them; with arp_ignore=1 the kernel does not answer ARP for
// them, so only a responder can attract the traffic.
func (h *Host) AddLoopbackAddrs(addrs ...netip.Addr) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var ps []netip.Prefix
	for _, a := range addrs {
		ps = append(ps, netip.PrefixFrom(a, a.BitLen()))
	}
	return h.addrUp(ctx, "lo", ps...)
}

func hostAddr(p netip.Prefix, host byte) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	b[len(b)-1] = host
	a, _ := netip.AddrFromSlice(b)
	return a
}

func sanitize(s string, max int) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if b.Len() >= max {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func run(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("netlab: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Package frr runs an FRR router (zebra + bgpd) in a netlab namespace for
// end-to-end tests and benchmarks, and reads its BGP state as JSON.
package frr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lbkit/lbkit/internal/netlab"
)

// Neighbor is one BGP neighbor of the router.
type Neighbor struct {
	Address netip.Addr
	// ASN is the neighbor's AS; 0 means "external" (any other AS).
	ASN uint32
	// RemoteAS, when set, overrides ASN ("internal", "external").
	RemoteAS string
	Password string
	// Multihop > 0 sets ebgp-multihop.
	Multihop int
	// DualStack activates both IPv4 and IPv6 unicast; otherwise the
	// neighbor's own family.
	DualStack bool
}

// Config is the router's BGP configuration.
type Config struct {
	ASN      uint32
	RouterID netip.Addr
	// Neighbors are configured with timers connect 1 and
	// advertisement-interval 0; the router uses timers bgp 3 9 and
	// maximum-paths 8 (eBGP and iBGP) in both families.
	Neighbors []Neighbor
	// Extra lines inside "router bgp", before the address families.
	Extra []string
}

// Router is a running FRR instance.
type Router struct {
	Host  *netlab.Host
	Dir   string
	zebra *netlab.Process
	bgpd  *netlab.Process
}

func (c Config) bgpdConf(dir, host string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("hostname %s", host)
	w("log file %s informational", filepath.Join(dir, "bgpd.log"))
	w("router bgp %d", c.ASN)
	w(" bgp router-id %s", c.RouterID)
	w(" no bgp ebgp-requires-policy")
	w(" no bgp default ipv4-unicast")
	w(" bgp bestpath as-path multipath-relax")
	w(" timers bgp 3 9")
	for _, n := range c.Neighbors {
		ras := n.RemoteAS
		if ras == "" {
			ras = "external"
			if n.ASN != 0 {
				ras = strconv.FormatUint(uint64(n.ASN), 10)
			}
		}
		w(" neighbor %s remote-as %s", n.Address, ras)
		w(" neighbor %s timers connect 1", n.Address)
		w(" neighbor %s advertisement-interval 0", n.Address)
		if n.Password != "" {
			w(" neighbor %s password %s", n.Address, n.Password)
		}
		if n.Multihop > 0 {
			w(" neighbor %s ebgp-multihop %d", n.Address, n.Multihop)
		}
	}
	for _, l := range c.Extra {
		w(" %s", l)
	}
	for _, fam := range []string{"ipv4", "ipv6"} {
		w(" address-family %s unicast", fam)
		w("  maximum-paths 8")
		w("  maximum-paths ibgp 8")
		for _, n := range c.Neighbors {
			if n.DualStack || n.Address.Is4() == (fam == "ipv4") {
				w("  neighbor %s activate", n.Address)
			}
		}
		w(" exit-address-family")
	}
	return b.String()
}

// Start writes the configuration and starts zebra and bgpd in h's
// namespace, as user frr, with files under h.Lab.Dir. It returns once
// bgpd answers vtysh.
func Start(ctx context.Context, h *netlab.Host, cfg Config) (*Router, error) {
	u, err := user.Lookup("frr")
	if err != nil {
		return nil, fmt.Errorf("frr: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// The daemons run as frr and must reach their directory.
	if err := os.Chmod(h.Lab.Dir, 0o711); err != nil {
		return nil, fmt.Errorf("frr: %w", err)
	}
	dir := filepath.Join(h.Lab.Dir, "frr-"+h.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("frr: %w", err)
	}
	files := map[string]string{
		"zebra.conf": fmt.Sprintf("hostname %s\nlog file %s informational\n", h.Name, filepath.Join(dir, "zebra.log")),
		"bgpd.conf":  cfg.bgpdConf(dir, h.Name),
		"vtysh.conf": "",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return nil, fmt.Errorf("frr: %w", err)
		}
	}
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, gid)
	}); err != nil {
		return nil, fmt.Errorf("frr: %w", err)
	}
	r := &Router{Host: h, Dir: dir}
	common := []string{"-z", filepath.Join(dir, "zserv.api"), "--vty_socket", dir, "-P", "0"}
	r.zebra, err = h.Start(ctx, "frr-"+h.Name+"-zebra.out", "/usr/lib/frr/zebra",
		append([]string{"-f", filepath.Join(dir, "zebra.conf"), "-i", filepath.Join(dir, "zebra.pid")}, common...)...)
	if err != nil {
		return nil, fmt.Errorf("frr: %w", err)
	}
	if err := waitFor(ctx, func() bool { _, err := os.Stat(filepath.Join(dir, "zserv.api")); return err == nil }); err != nil {
		r.Stop()
		return nil, fmt.Errorf("frr: zebra did not start: %w", err)
	}
	r.bgpd, err = h.Start(ctx, "frr-"+h.Name+"-bgpd.out", "/usr/lib/frr/bgpd",
		append([]string{"-f", filepath.Join(dir, "bgpd.conf"), "-i", filepath.Join(dir, "bgpd.pid")}, common...)...)
	if err != nil {
		r.Stop()
		return nil, fmt.Errorf("frr: %w", err)
	}
	if err := waitFor(ctx, func() bool { _, err := r.Vtysh(ctx, "show bgp summary json"); return err == nil }); err != nil {
		r.Stop()
		return nil, fmt.Errorf("frr: bgpd did not answer: %w", err)
	}
	return r, nil
}

// waitFor polls cond every 20 ms for at most 10 s.
func waitFor(ctx context.Context, cond func() bool) error {
	for i := 0; i < 500; i++ {
		if cond() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.New("timed out")
}

// Stop kills bgpd and zebra by PID.
func (r *Router) Stop() {
	for _, p := range []*netlab.Process{r.bgpd, r.zebra} {
		if p != nil {
			p.Kill()
		}
	}
}

// Vtysh runs vtysh commands against this instance (its socket directory
// is reachable from any namespace).
func (r *Router) Vtysh(ctx context.Context, cmds ...string) (string, error) {
	args := []string{"--vty_socket", r.Dir}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	out, err := exec.CommandContext(ctx, "vtysh", args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("frr: vtysh %q: %w: %s", cmds, err, out)
	}
	return string(out), nil
}

// JSON runs one show command that ends in json and decodes its output.
func (r *Router) JSON(ctx context.Context, cmd string, v any) error {
	out, err := r.Vtysh(ctx, cmd)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("frr: %s: %w: %.200s", cmd, err, out)
	}
	return nil
}

// Configure applies configuration lines under "router bgp ASN".
func (r *Router) Configure(ctx context.Context, asn uint32, lines ...string) error {
	cmds := []string{"configure terminal", fmt.Sprintf("router bgp %d", asn)}
	_, err := r.Vtysh(ctx, append(cmds, lines...)...)
	return err
}

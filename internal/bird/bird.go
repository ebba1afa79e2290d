// Package bird runs a BIRD 2 router in a netlab namespace for end-to-end
// tests, and reads its routes and protocols from birdc.
package bird

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/lbkit/lbkit/internal/netlab"
)

// Neighbor is one BGP neighbor; Name is its BIRD protocol name.
type Neighbor struct {
	Name    string
	Address netip.Addr
	ASN     uint32
}

// Config is the router's configuration: BGP sessions that import every
// route, and kernel protocols that install them with ECMP (merge paths).
type Config struct {
	RouterID  netip.Addr
	ASN       uint32
	Neighbors []Neighbor
}

// Router is a running BIRD.
type Router struct {
	Host *netlab.Host
	Dir  string
	ctl  string
	proc *netlab.Process
}

func (c Config) conf(dir string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("router id %s;", c.RouterID)
	w("log %q all;", filepath.Join(dir, "bird.log"))
	w("protocol device {}")
	w("protocol kernel kernel4 { ipv4 { export all; }; merge paths on; }")
	w("protocol kernel kernel6 { ipv6 { export all; }; merge paths on; }")
	for _, n := range c.Neighbors {
		fam := "ipv4"
		if n.Address.Is6() {
			fam = "ipv6"
		}
		w("protocol bgp %s {", n.Name)
		w("  local as %d;", c.ASN)
		w("  neighbor %s as %d;", n.Address, n.ASN)
		w("  hold time 9; keepalive time 3; connect retry time 1;")
		w("  %s { import all; export none; };", fam)
		w("}")
	}
	return b.String()
}

// Start writes the configuration and runs bird in the foreground in h's
// namespace; it returns once birdc answers.
func Start(ctx context.Context, h *netlab.Host, cfg Config) (*Router, error) {
	dir := filepath.Join(h.Lab.Dir, "bird-"+h.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bird: %w", err)
	}
	conf := filepath.Join(dir, "bird.conf")
	if err := os.WriteFile(conf, []byte(cfg.conf(dir)), 0o644); err != nil {
		return nil, fmt.Errorf("bird: %w", err)
	}
	r := &Router{Host: h, Dir: dir, ctl: filepath.Join(dir, "bird.ctl")}
	var err error
	r.proc, err = h.Start(ctx, "bird-"+h.Name+".out", "bird", "-f", "-c", conf, "-s", r.ctl, "-P", filepath.Join(dir, "bird.pid"))
	if err != nil {
		return nil, fmt.Errorf("bird: %w", err)
	}
	for i := 0; i < 500; i++ {
		if _, err := r.Birdc(ctx, "show status"); err == nil {
			return r, nil
		}
		if r.proc.Exited() {
			break
		}
		select {
		case <-ctx.Done():
			r.Stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	r.Stop()
	return nil, errors.New("bird: birdc did not answer (see " + r.proc.Log + ")")
}

// Stop kills bird by PID.
func (r *Router) Stop() {
	if r.proc != nil {
		r.proc.Kill()
	}
}

// Birdc runs one birdc command.
func (r *Router) Birdc(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "birdc", append([]string{"-s", r.ctl}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("bird: birdc %q: %w: %s", args, err, out)
	}
	return string(out), nil
}

// Path is one route BIRD holds for a prefix.
type Path struct {
	Protocol string
	Via      netip.Addr
	Primary  bool
}

// Routes returns every route of every table, parsed from "show route".
func (r *Router) Routes(ctx context.Context) (map[netip.Prefix][]Path, error) {
	out, err := r.Birdc(ctx, "show", "route")
	if err != nil {
		return nil, err
	}
	return ParseRoutes(out), nil
}

// ParseRoutes parses the output of birdc "show route": a line starting
// with a prefix opens it, further "unicast [proto ...]" lines add paths,
// and indented "via ADDR on IF" lines give the next hop of the last path.
func ParseRoutes(out string) map[netip.Prefix][]Path {
	m := make(map[netip.Prefix][]Path)
	var cur netip.Prefix
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if p, err := netip.ParsePrefix(f[0]); err == nil && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "\t") {
			cur = p
			f = f[1:]
		}
		if !cur.IsValid() {
			continue
		}
		switch {
		case len(f) >= 2 && f[0] == "via":
			if paths := m[cur]; len(paths) > 0 {
				if a, err := netip.ParseAddr(f[1]); err == nil {
					paths[len(paths)-1].Via = a
				}
			}
		case len(f) >= 2 && f[0] == "unicast" && strings.HasPrefix(f[1], "["):
			m[cur] = append(m[cur], Path{Protocol: strings.TrimPrefix(f[1], "["), Primary: strings.Contains(line, "] *")})
		}
	}
	return m
}

// Protocols returns each protocol's state column and info ("up",
// "Established"), by name, from "show protocols".
func (r *Router) Protocols(ctx context.Context) (map[string]string, error) {
	out, err := r.Birdc(ctx, "show", "protocols")
	if err != nil {
		return nil, err
	}
	m := make(map[string]string)
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[1] == "BGP" {
			m[f[0]] = f[3] + " " + strings.Join(f[5:], " ")
		}
	}
	return m, nil
}

package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/lbkit/lbkit/internal/netlab"
)

// keepalived VRRP between node1 (MASTER, 150) and node2 (BACKUP, 100), as
// in shared/lab/keepalived-failover-reference.sh, for the reference rows.
var kaVIP = netip.MustParseAddr("192.0.2.210")

const kaPort = 8081

type kaNode struct {
	h    *netlab.Host
	proc *netlab.Process
	dir  string
}

func kaConfig(name string, master bool, advert time.Duration) string {
	state, prio := "BACKUP", 100
	if master {
		state, prio = "MASTER", 150
	}
	return fmt.Sprintf(`global_defs {
  router_id %s
  vrrp_version 3
  vrrp_garp_master_delay 0
  vrrp_garp_master_repeat 3
  enable_script_security
  script_user root
}
vrrp_instance VI_1 {
  state %s
  interface eth0
  virtual_router_id 51
  priority %d
  advert_int %s
  virtual_ipaddress {
    %s/32 dev eth0
  }
}
`, name, state, prio, strconv.FormatFloat(advert.Seconds(), 'f', -1, 64), kaVIP)
}

func (k *kaNode) start(ctx context.Context, master bool, advert time.Duration, run int) error {
	conf := filepath.Join(k.dir, k.h.Name+".conf")
	if err := os.WriteFile(conf, []byte(kaConfig(k.h.Name, master, advert)), 0o644); err != nil {
		return err
	}
	p, err := k.h.Start(ctx, fmt.Sprintf("keepalived-%s-%d.log", k.h.Name, run), "/usr/sbin/keepalived",
		"-P", "-n", "-l", "-D", "-f", conf,
		"-p", filepath.Join(k.dir, k.h.Name+".pid"), "-r", filepath.Join(k.dir, k.h.Name+"-vrrp.pid"))
	if err != nil {
		return err
	}
	k.proc = p
	return nil
}

// kill SIGKILLs the VRRP child and the parent, like the reference script.
func (k *kaNode) kill() {
	if b, err := os.ReadFile(filepath.Join(k.dir, k.h.Name+"-vrrp.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if k.proc != nil {
		k.proc.Kill()
	}
	os.Remove(filepath.Join(k.dir, k.h.Name+"-vrrp.pid"))
}

func (k *kaNode) hasVIP(ctx context.Context) bool {
	out, _ := k.h.Run(ctx, "ip", "-4", "addr", "show", "dev", "eth0")
	return strings.Contains(out, kaVIP.String()+"/")
}

// keepalivedTrial starts VRRP on node1 and node2, waits for node1 to be
// master, kills it (link cut + SIGKILL) and measures the outage.
func l2KeepalivedTrial(ctx context.Context, lab *netlab.Lab, dir string, advert time.Duration, run int) (time.Duration, error) {
	n1 := &kaNode{h: lab.Host("node1"), dir: dir}
	n2 := &kaNode{h: lab.Host("node2"), dir: dir}
	defer func() {
		n1.kill()
		n2.kill()
		// SIGKILL leaves the VIP configured; clean up for the next trial.
		for _, n := range []*kaNode{n1, n2} {
			n.h.Run(ctx, "ip", "addr", "del", kaVIP.String()+"/32", "dev", "eth0")
		}
		lab.RestoreLink("node1")
	}()
	if err := n1.start(ctx, true, advert, run); err != nil {
		return 0, err
	}
	if err := n2.start(ctx, false, advert, run); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(10*advert + 5*time.Second)
	for !n1.hasVIP(ctx) {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("keepalived: node1 never became master")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Let node2 settle as backup before the kill.
	time.Sleep(3*advert + 200*time.Millisecond)
	target := netip.AddrPortFrom(kaVIP, kaPort)
	if !l2WaitReachable(ctx, lab.Host("client"), target, 10*time.Second) {
		return 0, fmt.Errorf("keepalived: client cannot reach %v", target)
	}
	p := startL2Prober(lab.Host("client"), target, 10*time.Millisecond, 200*time.Millisecond)
	time.Sleep(300 * time.Millisecond)
	if err := lab.CutLink("node1"); err != nil {
		return 0, err
	}
	n1.kill()
	time.Sleep(4*advert + 1500*time.Millisecond)
	outage, _, _ := p.finish()
	return outage, nil
}

// serveTCP accepts and closes connections on port in h's namespace.
func l2ServeTCP(h *netlab.Host, port int) (net.Listener, error) {
	ln, err := h.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln, nil
}

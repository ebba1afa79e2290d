package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/lbkit/lbkit/internal/stack"
)

// demo runs the whole system on this machine and narrates it: a real
// kube-apiserver, the lbkit controller, a speaker in each of three node
// namespaces, FRR as the router, a client on the LAN and a host behind the
// router. It shows a Service getting an address, reached over layer 2 and
// over BGP, and a failover with its measured outage; then tears it down.
func demo(ctx context.Context, log *slog.Logger, args []string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the demo builds network namespaces: run it as root")
	}
	start := time.Now()
	step := func(format string, a ...any) { fmt.Printf("\n== "+format+"\n", a...) }
	say := func(format string, a ...any) { fmt.Printf("   "+format+"\n", a...) }

	step("1. Building the lab: lbkit binary, 7 network namespaces, FRR, kube-apiserver + etcd")
	s, err := stack.Start(ctx, stack.Options{Log: log})
	if err != nil {
		return err
	}
	defer func() {
		step("Tearing down")
		s.Close()
		say("all namespaces and processes gone; demo took %s", time.Since(start).Round(100*time.Millisecond))
	}()
	for _, h := range append(s.Lab.Nodes(), s.Lab.Host("client"), s.Lab.Host("router"), s.Lab.Host("ext")) {
		say("%-7s %-14s %s", h.Name, h.IPv4, h.IPv6)
	}

	step("2. Applying an unchanged MetalLB configuration (IPAddressPool, L2Advertisement, BGPPeer, BGPAdvertisement)")
	if err := s.Apply(ctx, stack.Config); err != nil {
		return err
	}
	say("pool lan    %s, %s  -> L2Advertisement (ARP/NDP)", stack.L2Pool4, stack.L2Pool6)
	say("pool routed %s, %s -> BGPAdvertisement, BGPPeer router AS%d (nodes AS%d)", stack.BGPPool4, stack.BGPPool6, stack.RouterASN, stack.NodeASN)

	step("3. Starting `lbkit controller` and `lbkit speaker` in node1, node2, node3")
	if err := s.StartController(ctx); err != nil {
		return err
	}
	for _, n := range s.Lab.Nodes() {
		if err := s.StartSpeaker(ctx, n.Name); err != nil {
			return err
		}
	}
	say("binary %s", s.Binary)
	t0 := time.Now()
	for i := 0; i < 300; i++ {
		sum, err := s.Router.Summary(ctx, "ipv4")
		up := 0
		for _, p := range sum {
			if p.State == "Established" {
				up++
			}
		}
		if err == nil && up == len(s.Lab.Nodes()) {
			say("FRR: %d BGP sessions established, %s after the speakers started", up, time.Since(t0).Round(time.Millisecond))
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	step("4. Creating a dual-stack LoadBalancer Service \"web\" (endpoints on all three nodes)")
	t0 = time.Now()
	if err := s.CreateService(ctx, "web", stack.ServiceOptions{Pool: "lan", DualStack: true}); err != nil {
		return err
	}
	if err := s.SetEndpoints(ctx, "web", "node1", "node2", "node3"); err != nil {
		return err
	}
	web, err := s.WaitIngress(ctx, "web", 2, time.Minute)
	if err != nil {
		return err
	}
	svc, err := s.Client.CoreV1().Services("default").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		return err
	}
	tAddr := time.Now()
	say("status.loadBalancer.ingress = %v  (%s after create)", web, tAddr.Sub(t0).Round(time.Millisecond))
	say("annotation metallb.io/ip-allocated-from-pool = %s", svc.Annotations["metallb.io/ip-allocated-from-pool"])
	printEvents(ctx, s, "web", say)

	step("5. Layer 2: the client resolves the VIP by ARP/NDP and connects")
	client := s.Lab.Host("client")
	for _, a := range web {
		node, _, err := stack.WaitReachable(ctx, client, a, 30*time.Second)
		if err != nil {
			return err
		}
		say("curl http://%s -> %q  (reachable %s after the Service got its address)", hostPort(a), node, time.Since(tAddr).Round(time.Millisecond))
	}
	var nodes []string
	for i := 0; i < 40 && len(nodes) == 0; i++ {
		if nodes, _ = s.L2StatusNodes(ctx, "web"); len(nodes) == 0 {
			time.Sleep(250 * time.Millisecond)
		}
	}
	say("ServiceL2Status: announced by %v", nodes)
	if out, err := client.Run(ctx, "ip", "neigh", "show", web[0].String()); err == nil {
		say("client's neighbour table: %s", strings.TrimSpace(out))
	}

	step("6. BGP: a Service from the routed pool, advertised by every node")
	if err := s.CreateService(ctx, "api", stack.ServiceOptions{Pool: "routed"}); err != nil {
		return err
	}
	if err := s.SetEndpoints(ctx, "api", "node1", "node2", "node3"); err != nil {
		return err
	}
	api, err := s.WaitIngress(ctx, "api", 1, time.Minute)
	if err != nil {
		return err
	}
	say("api got %v", api)
	ext := s.Lab.Host("ext")
	if _, took, err := stack.WaitReachable(ctx, ext, api[0], time.Minute); err == nil {
		say("reachable from ext (behind the router) %s after the Service got its address", took.Round(time.Millisecond))
	} else {
		return err
	}
	var hops []netip.Addr
	for i := 0; i < 60; i++ {
		if hops, _ = s.NextHops(ctx, api[0]); len(hops) == 3 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	say("FRR's BGP paths for %s: next hops %v", netip.PrefixFrom(api[0], 32), hops)
	if out, err := s.Lab.Host("router").Run(ctx, "ip", "route", "show", api[0].String()); err == nil {
		say("router's kernel route:\n      %s", strings.ReplaceAll(strings.TrimSpace(out), "\n", "\n      "))
	}
	count := map[string]int{}
	for i := 0; i < 30; i++ {
		if node, err := stack.Get(ctx, ext, api[0], time.Second); err == nil {
			count[node]++
		}
	}
	say("30 connections from ext, spread by the router's ECMP: %s", formatCounts(count))

	step("7. Failover: node death (link cut + SIGKILL) of the node that answers for %s", web[0])
	owner, err := stack.Get(ctx, client, web[0], time.Second)
	if err != nil {
		return err
	}
	prober := startL2Prober(client, netip.AddrPortFrom(web[0], stack.HTTPPort), 10*time.Millisecond, 100*time.Millisecond)
	time.Sleep(500 * time.Millisecond)
	if err := s.KillNode(owner); err != nil {
		prober.finish()
		return err
	}
	time.Sleep(2 * time.Second)
	outage, lost, sent := prober.finish()
	next, err := stack.Get(ctx, client, web[0], time.Second)
	if err != nil {
		return fmt.Errorf("after the failover: %w", err)
	}
	say("%s killed; %s now answers; outage %s (%d of %d probes at 10 ms lost)", owner, next, outage.Round(time.Millisecond), lost, sent)
	for i := 0; i < 40; i++ {
		if nodes, _ = s.L2StatusNodes(ctx, "web"); len(nodes) == 1 && nodes[0] == next {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	say("ServiceL2Status now: %v", nodes)
	for i := 0; i < 60; i++ {
		if hops, _ = s.NextHops(ctx, api[0]); len(hops) == 2 {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	say("FRR's next hops for %s: %v (the dead node's path is gone)", api[0], hops)
	fmt.Printf("\ndemo ok: service_ip=%s l2_owner=%s failover_to=%s failover_outage_ms=%d bgp_next_hops=%d\n",
		web[0], owner, next, outage.Milliseconds(), len(hops))
	return nil
}

func hostPort(a netip.Addr) string {
	return netip.AddrPortFrom(a, stack.HTTPPort).String()
}

func formatCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

func printEvents(ctx context.Context, s *stack.Stack, name string, say func(string, ...any)) {
	for i := 0; i < 20; i++ {
		evs, err := s.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{})
		var lines []string
		if err == nil {
			for _, e := range evs.Items {
				if e.InvolvedObject.Name == name && e.Type == corev1.EventTypeNormal {
					lines = append(lines, fmt.Sprintf("event %s: %s", e.Reason, e.Message))
				}
			}
		}
		if len(lines) > 0 {
			for _, l := range lines {
				say("%s", l)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/lbkit/lbkit/bgp"
	"github.com/lbkit/lbkit/k8s/source"
	"github.com/lbkit/lbkit/k8s/speaker"
	"github.com/lbkit/lbkit/l2"
	"github.com/lbkit/lbkit/membership"
)

// drainTimeout bounds the layer 2 hand-off on a planned stop.
const drainTimeout = 5 * time.Second

// runSpeaker announces, from this node, the addresses the controller
// assigned, until ctx is done. Then it stops in the order that loses no
// traffic: hand layer 2 addresses to the other speakers (membership
// drain), let BGP routes drain with GRACEFUL_SHUTDOWN, withdraw the rest
// and delete this node's status objects, and leave memberlist last.
func runSpeaker(ctx context.Context, o speakerOptions, log *slog.Logger) error {
	c, err := newClients(o.commonOptions, "lbkit-speaker")
	if err != nil {
		return err
	}
	reg := newRegistry()
	cfg := speaker.Config{
		Client: c.client, Dynamic: c.dynamic, Namespace: o.namespace, NodeName: o.nodeName,
		LoadBalancerClass: o.lbClass, Logger: log, Registerer: reg,
	}
	var (
		m    *membership.Membership
		l2a  *l2.Announcer
		bgps *bgp.Speaker
	)
	if o.l2 {
		peers := o.mlJoinPeers
		if len(peers) == 0 {
			if peers, err = speakerPeers(ctx, c.client, o); err != nil {
				return err
			}
		}
		log.Info("memberlist", "bind", o.mlBind.String(), "peers", peers, "secret", o.secretSrc)
		if m, err = membership.New(membership.Config{
			Name: o.nodeName, BindAddr: o.mlBind, Peers: peers, SecretKey: o.mlKey, Profile: o.mlProfile, Logger: log,
		}); err != nil {
			return err
		}
		if l2a, err = l2.New(l2.Config{Logger: log}); err != nil {
			return err
		}
		cfg.L2, cfg.Liveness, cfg.L2Stats = l2a, m, l2Stats(l2a)
	}
	if o.bgp {
		if bgps, err = bgp.New(bgp.Config{Logger: log, RouterID: o.routerID, GracefulShutdownDelay: o.gshutDelay}); err != nil {
			return err
		}
		cfg.BGP, cfg.BGPStatus = bgps, bgpStatus(bgps)
	}
	sp, err := speaker.New(cfg)
	if err != nil {
		return err
	}
	src, err := source.New(source.Config{Dynamic: c.dynamic, Client: c.client, Namespace: o.namespace, Logger: log})
	if err != nil {
		return err
	}
	var ms *metricsServer
	if o.metricsAddr != "" {
		if ms, err = listenMetrics(o.metricsAddr, reg, log); err != nil {
			return err
		}
	}

	// Each part runs under its own context, so the stop can be ordered.
	failed := make(chan error, 6)
	var tMembership, tL2, tBGP, tMetrics *task
	if m != nil {
		tMembership = startTask("membership", failed, m.Run)
		tL2 = startTask("l2", failed, l2a.Run)
	}
	if bgps != nil {
		tBGP = startTask("bgp", failed, bgps.Run)
	}
	if ms != nil {
		tMetrics = startTask("metrics", failed, ms.Run)
	}
	tSpeaker := startTask("speaker", failed, func(ctx context.Context) error {
		return runTogether(ctx,
			func(ctx context.Context) error {
				return src.Run(ctx, func(s source.Snapshot) { sp.ApplyConfig(ctx, s) })
			},
			sp.Run)
	})
	log.Info("started", "node", o.nodeName, "namespace", o.namespace, "lb_class", o.lbClass, "l2", o.l2, "bgp", o.bgp)

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("stopping")
	case runErr = <-failed:
		log.Error("stopping on failure", "error", runErr)
	}
	if m != nil {
		dctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
		if err := m.Drain(dctx); err != nil {
			log.Warn("layer 2 hand-off incomplete", "error", err)
		}
		cancel()
	}
	for _, t := range []*task{tBGP, tSpeaker, tL2, tMembership, tMetrics} {
		t.stop()
	}
	errs := []error{runErr}
	for len(failed) > 0 {
		errs = append(errs, <-failed)
	}
	err = errors.Join(errs...)
	log.Info("stopped", "error", err)
	return err
}

// speakerPeers lists the other speakers' pods (-ml-labels in -namespace)
// and returns their memberlist addresses, sorted. A pod of a host-network
// DaemonSet has its node's IP; one without an IP yet is reached at its
// host IP.
func speakerPeers(ctx context.Context, client kubernetes.Interface, o speakerOptions) ([]string, error) {
	pods, err := client.CoreV1().Pods(o.namespace).List(ctx, metav1.ListOptions{LabelSelector: o.mlLabels})
	if err != nil {
		return nil, fmt.Errorf("listing speaker pods for memberlist: %w", err)
	}
	port := strconv.Itoa(int(o.mlBind.Port()))
	var peers []string
	for _, p := range pods.Items {
		if p.Spec.NodeName == o.nodeName || p.DeletionTimestamp != nil {
			continue
		}
		ip := p.Status.PodIP
		if ip == "" && p.Spec.HostNetwork {
			ip = p.Status.HostIP
		}
		if ip != "" {
			peers = append(peers, net.JoinHostPort(ip, port))
		}
	}
	slices.Sort(peers)
	return slices.Compact(peers), nil
}

func l2Stats(a *l2.Announcer) func() speaker.L2Stats {
	return func() speaker.L2Stats {
		s := a.Stats()
		return speaker.L2Stats{
			ARPRequests: s.ARPRequests, NDPSolicitations: s.NDPSolicitations,
			ARPReplies: s.ARPReplies, NDPAdvertisements: s.NDPAdvertisements,
			GratuitousARP: s.GratuitousARP, UnsolicitedNA: s.UnsolicitedNA,
		}
	}
}

func bgpStatus(b *bgp.Speaker) func() []speaker.BGPSessionStatus {
	return func() []speaker.BGPSessionStatus {
		var out []speaker.BGPSessionStatus
		for _, p := range b.Status() {
			out = append(out, speaker.BGPSessionStatus{
				Peer: p.Name, Address: p.Address, Established: p.Established(), PrefixesSent: p.PrefixesSent,
			})
		}
		return out
	}
}

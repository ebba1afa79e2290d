package stack

import (
	"context"
	"fmt"
	"log/slog"

	"os"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/lbkit/lbkit/internal/netlab"
	"github.com/lbkit/lbkit/k8s/api/v1beta1"
)

// eventually polls cond every 50 ms until it returns nil or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: still failing after %s: %v", what, timeout, err)
}

func startStack(t *testing.T) (*Stack, context.Context) {
	t.Helper()
	netlab.RequireRoot(t)
	if testing.Short() {
		t.Skip("end-to-end: skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	t.Cleanup(cancel)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := Start(ctx, Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("controller log:\n%s", s.Logs("controller.log", 30))
			for _, n := range []string{"node1", "node2", "node3"} {
				t.Logf("speaker %s log:\n%s", n, s.Logs("speaker-"+n+".log", 30))
			}
		}
		s.Close()
	})
	if err := s.Apply(ctx, Config); err != nil {
		t.Fatal(err)
	}
	if err := s.StartController(ctx); err != nil {
		t.Fatal(err)
	}
	return s, ctx
}

// TestEndToEnd runs the whole system: the controller gives Services
// addresses, the speakers in the node namespaces announce them by ARP/NDP
// and BGP, and a client on the LAN and a host behind the router reach them
// through the kernel's own ARP/NDP and FRR's routes.
func TestEndToEnd(t *testing.T) {
	s, ctx := startStack(t)
	client, ext := s.Lab.Host("client"), s.Lab.Host("ext")
	all := []string{"node1", "node2", "node3"}

	// The service gets an address before any speaker runs: nothing
	// answers for it (the negative control of the layer 2 test).
	if err := s.CreateService(ctx, "web", ServiceOptions{Pool: "lan", DualStack: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetEndpoints(ctx, "web", all...); err != nil {
		t.Fatal(err)
	}
	web, err := s.WaitIngress(ctx, "web", 2, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !L2Pool4.Contains(web[0]) || !L2Pool6.Contains(web[1]) {
		t.Fatalf("web got %v, want one address of %s and one of %s", web, L2Pool4, L2Pool6)
	}
	if node, err := Get(ctx, client, web[0], 500*time.Millisecond); err == nil {
		t.Fatalf("negative control: %s answered (%s) with no speaker running", web[0], node)
	}

	for _, n := range all {
		if err := s.StartSpeaker(ctx, n); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("L2", func(t *testing.T) {
		owner, took, err := WaitReachable(ctx, client, web[0], 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s reachable %s after the speakers started, through %s", web[0], took.Round(time.Millisecond), owner)
		owner6, _, err := WaitReachable(ctx, client, web[1], 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if owner6 != owner {
			t.Fatalf("v4 through %s, v6 through %s: one node should own the service", owner, owner6)
		}
		eventually(t, 10*time.Second, "ServiceL2Status names the owner", func() error {
			nodes, err := s.L2StatusNodes(ctx, "web")
			if err != nil || !slices.Equal(nodes, []string{owner}) {
				return fmt.Errorf("status nodes %v (%v), want [%s]", nodes, err, owner)
			}
			return nil
		})
		// Every speaker reports the configuration it runs as valid.
		eventually(t, 10*time.Second, "speakers' ConfigurationState is Valid", func() error {
			for _, n := range all {
				obj, err := s.Dynamic.Resource(v1beta1.ConfigurationStatesResource).Namespace(Namespace).Get(ctx, "speaker-"+n, metav1.GetOptions{})
				if err != nil {
					return err
				}
				if r, _, _ := unstructured.NestedString(obj.Object, "status", "result"); r != "Valid" {
					return fmt.Errorf("speaker-%s: result %q", n, r)
				}
			}
			return nil
		})
		// Repeated probes keep landing on the one owner.
		for i := 0; i < 10; i++ {
			if got, err := Get(ctx, client, web[0], time.Second); err != nil || got != owner {
				t.Fatalf("probe %d: %q, %v; want %s", i, got, err, owner)
			}
		}
	})

	t.Run("L2 externalTrafficPolicy Local follows the endpoint", func(t *testing.T) {
		if err := s.CreateService(ctx, "local", ServiceOptions{Pool: "lan", Local: true}); err != nil {
			t.Fatal(err)
		}
		addrs, err := s.WaitIngress(ctx, "local", 1, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		// No ready endpoint: no node announces.
		if err := s.SetEndpoints(ctx, "local"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		if node, err := Get(ctx, client, addrs[0], 300*time.Millisecond); err == nil {
			t.Fatalf("reached through %s with no ready endpoint", node)
		}
		for _, target := range []string{"node3", "node1"} {
			if err := s.SetEndpoints(ctx, "local", target); err != nil {
				t.Fatal(err)
			}
			eventually(t, 15*time.Second, "traffic to the endpoint's node "+target, func() error {
				got, err := Get(ctx, client, addrs[0], 300*time.Millisecond)
				if err != nil || got != target {
					return fmt.Errorf("answered by %q (%v)", got, err)
				}
				return nil
			})
		}
	})

	t.Run("BGP", func(t *testing.T) {
		if err := s.CreateService(ctx, "routed", ServiceOptions{Pool: "routed", DualStack: true}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetEndpoints(ctx, "routed", all...); err != nil {
			t.Fatal(err)
		}
		addrs, err := s.WaitIngress(ctx, "routed", 2, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		want := s.NodeAddrs(all...)
		eventually(t, 30*time.Second, "FRR has the route from every node", func() error {
			hops, err := s.NextHops(ctx, addrs[0])
			if err != nil || !slices.Equal(hops, want) {
				return fmt.Errorf("next hops %v (%v), want %v", hops, err, want)
			}
			return nil
		})
		eventually(t, 30*time.Second, "FRR has the IPv6 route from every node", func() error {
			hops, err := s.NextHops(ctx, addrs[1])
			if err != nil || len(hops) != 3 {
				return fmt.Errorf("IPv6 next hops %v (%v), want 3", hops, err)
			}
			return nil
		})
		// The kernel spreads ext's connections over the nodes (ECMP).
		seen := map[string]bool{}
		for i := 0; i < 30 && len(seen) < 2; i++ {
			node, err := Get(ctx, ext, addrs[0], time.Second)
			if err != nil {
				t.Fatalf("ext -> %s: %v", addrs[0], err)
			}
			seen[node] = true
		}
		if len(seen) < 2 {
			t.Fatalf("30 connections from ext all went to %v: no ECMP", seen)
		}
		if _, err := Get(ctx, ext, addrs[1], time.Second); err != nil {
			t.Fatalf("ext -> %s: %v", addrs[1], err)
		}

		// externalTrafficPolicy Local: only the endpoint's node advertises.
		if err := s.CreateService(ctx, "routed-local", ServiceOptions{Pool: "routed", Local: true}); err != nil {
			t.Fatal(err)
		}
		if err := s.SetEndpoints(ctx, "routed-local", "node2"); err != nil {
			t.Fatal(err)
		}
		local, err := s.WaitIngress(ctx, "routed-local", 1, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "only node2 advertises the Local service", func() error {
			hops, err := s.NextHops(ctx, local[0])
			if err != nil || !slices.Equal(hops, s.NodeAddrs("node2")) {
				return fmt.Errorf("next hops %v (%v), want node2's", hops, err)
			}
			return nil
		})

		// Deleting the service withdraws the route.
		if err := s.Client.CoreV1().Services("default").Delete(ctx, "routed", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "route withdrawn after delete", func() error {
			hops, err := s.NextHops(ctx, addrs[0])
			if err != nil || len(hops) != 0 {
				return fmt.Errorf("next hops %v (%v), want none", hops, err)
			}
			return nil
		})
	})

	t.Run("L2 failover on node death", func(t *testing.T) {
		owner, err := Get(ctx, client, web[0], time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.KillNode(owner); err != nil {
			t.Fatal(err)
		}

		next, took, err := WaitReachable(ctx, client, web[0], 15*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if next == owner {
			t.Fatalf("still answered by the dead node %s", owner)
		}
		t.Logf("%s moved from %s to %s; reachable again %s after the kill", web[0], owner, next, took.Round(time.Millisecond))
		if _, _, err := WaitReachable(ctx, client, web[1], 5*time.Second); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "ServiceL2Status follows", func() error {
			nodes, err := s.L2StatusNodes(ctx, "web")
			if err != nil || !slices.Equal(nodes, []string{next}) {
				return fmt.Errorf("status nodes %v (%v), want [%s]", nodes, err, next)
			}
			return nil
		})
	})
}

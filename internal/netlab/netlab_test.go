package netlab

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLab(t *testing.T) {
	RequireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := New(ctx, Options{Name: "self", Nodes: 2, Client: true, Router: true})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			l.Close()
		}
	}()

	client, node1, ext := l.Host("client"), l.Host("node1"), l.Host("ext")
	if client == nil || node1 == nil || ext == nil || len(l.Nodes()) != 2 {
		t.Fatalf("hosts missing: client=%v node1=%v ext=%v nodes=%d", client, node1, ext, len(l.Nodes()))
	}
	if got, want := node1.IPv4, netip.MustParseAddr("192.0.2.11"); got != want {
		t.Fatalf("node1 IPv4 = %v, want %v", got, want)
	}

	// A listener on node1, reached from the client on the LAN (v4 and v6)
	// and from ext through the router.
	ln, err := node1.Listen("tcp", ":8080")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "node1")
			c.Close()
		}
	}()
	for _, tc := range []struct {
		from *Host
		addr string
	}{
		{client, net.JoinHostPort(node1.IPv4.String(), "8080")},
		{client, net.JoinHostPort(node1.IPv6.String(), "8080")},
		{ext, net.JoinHostPort(node1.IPv4.String(), "8080")},
		{ext, net.JoinHostPort(node1.IPv6.String(), "8080")},
	} {
		dctx, dcancel := context.WithTimeout(ctx, 3*time.Second)
		c, err := tc.from.DialContext(dctx, "tcp", tc.addr)
		dcancel()
		if err != nil {
			t.Fatalf("%s -> %s: %v", tc.from.Name, tc.addr, err)
		}
		b, _ := io.ReadAll(c)
		c.Close()
		if string(b) != "node1" {
			t.Fatalf("%s -> %s: read %q", tc.from.Name, tc.addr, b)
		}
	}

	// The root namespace cannot see the lab's addresses: nothing leaked.
	if _, err := net.DialTimeout("tcp", net.JoinHostPort(node1.IPv4.String(), "8080"), 200*time.Millisecond); err == nil {
		t.Fatal("node1 reachable from the root namespace")
	}

	// A cut link makes the node unreachable; restoring brings it back.
	if err := l.CutLink("node1"); err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	if c, err := client.DialContext(dctx, "tcp", net.JoinHostPort(node1.IPv4.String(), "8080")); err == nil {
		c.Close()
		dcancel()
		t.Fatal("node1 reachable with its link cut")
	}
	dcancel()
	if err := l.RestoreLink("node1"); err != nil {
		t.Fatal(err)
	}

	// A background process runs in the namespace and is gone after Close.
	p, err := node1.Start(ctx, "sleep.log", "sleep", "600")
	if err != nil {
		t.Fatal(err)
	}
	out, err := node1.Run(ctx, "ip", "-o", "addr", "show", "dev", "eth0")
	if err != nil || !strings.Contains(out, "192.0.2.11/24") {
		t.Fatalf("ip addr in node1: %q, %v", out, err)
	}

	prefix := l.Prefix
	closed = true
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if !p.Exited() {
		t.Fatal("process survived Close")
	}
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			t.Fatalf("namespace %s survived Close", e.Name())
		}
	}
	if _, err := os.Stat(filepath.Join(stateRoot, strings.TrimSuffix(prefix, "-"))); !os.IsNotExist(err) {
		t.Fatalf("lab state dir survived Close: %v", err)
	}
}

func TestStaleLabRemoved(t *testing.T) {
	RequireRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := New(ctx, Options{Name: "stale", Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Pretend the owner died: a PID that cannot exist.
	if err := os.WriteFile(filepath.Join(l.Dir, "owner.pid"), []byte("999999999"), 0o644); err != nil {
		t.Fatal(err)
	}
	l2, err := New(ctx, Options{Name: "new", Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	if _, err := os.Stat(filepath.Join("/run/netns", l.Prefix+"node1")); !os.IsNotExist(err) {
		l.Close()
		t.Fatalf("stale namespace %snode1 still there: %v", l.Prefix, err)
	}
}

func TestForward(t *testing.T) {
	l := NewT(t, Options{Name: "fwd", Nodes: 1})
	// A server on the root namespace's loopback, unreachable from node1
	// until forwarded.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "root")
			c.Close()
		}
	}()
	node := l.Host("node1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if c, err := node.DialContext(ctx, "tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Fatal("root loopback reachable from node1 without a forward")
	}
	addr, stop, err := node.Forward("127.0.0.1:0", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	c, err := node.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	c.Close()
	if string(b) != "root" {
		t.Fatalf("through the forward: %q", b)
	}
}

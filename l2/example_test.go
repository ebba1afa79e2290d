package l2_test

import (
	"context"
	"log/slog"
	"net/netip"
	"os"

	"github.com/lbkit/lbkit/announce"
	"github.com/lbkit/lbkit/l2"
)

// Announce two addresses on eth0 until ctx ends (needs CAP_NET_RAW).
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, err := l2.New(l2.Config{Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		panic(err)
	}
	err = a.Announce(ctx, announce.Announcement{
		Service:   "default/web",
		Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.200"), netip.MustParseAddr("2001:db8:1::200")},
		L2:        announce.L2Options{Interfaces: []string{"eth0"}},
	})
	if err != nil {
		panic(err)
	}
	go a.Run(ctx) // blocks until ctx is done
	_ = a.Stats()
}

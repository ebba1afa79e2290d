// Command lab runs lbkit's network lab on one machine: the demo and the
// benchmarks. It needs root (network namespaces).
//
//	go run ./examples/lab demo
//	go run ./examples/lab bench l2-failover|bgp|controller|e2e
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "lab:", err)
		os.Exit(1)
	}
}

func usage() error {
	return fmt.Errorf("usage: lab demo | lab bench l2-failover|bgp|controller|e2e [flags]")
}

func run(ctx context.Context, args []string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if len(args) == 0 {
		return usage()
	}
	switch args[0] {
	case "demo":
		return demo(ctx, log, args[1:])
	case "bench":
		if len(args) < 2 {
			return usage()
		}
		rest := args[2:]
		switch args[1] {
		case "l2-failover":
			return benchL2Failover(ctx, log, rest)
		case "bgp":
			return benchBGP(ctx, log, rest)
		case "controller":
			return benchController(ctx, log, rest)
		case "e2e":
			return benchE2E(ctx, log, rest)
		}
	}
	return usage()
}
